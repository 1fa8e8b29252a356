"""Something heron itself says in the transcript: help, a warning, an error with what to do."""

from __future__ import annotations

from textual.widgets import Static

from agent.tui.entries import NoticeEntry


class Notice(Static):
    def __init__(self, entry: NoticeEntry) -> None:
        super().__init__(entry.text, markup=False, classes=entry.level)
        self.entry = entry
