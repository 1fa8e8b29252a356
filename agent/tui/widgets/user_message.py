"""A message the user sent."""

from __future__ import annotations

from textual.widgets import Static

from agent.tui.entries import UserEntry


class UserMessage(Static):
    def __init__(self, entry: UserEntry) -> None:
        super().__init__(entry.text, markup=False)
        self.entry = entry
