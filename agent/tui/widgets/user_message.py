"""A message the user sent, and a line for each image it attached."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from agent.tui.entries import UserEntry


class UserMessage(Static):
    def __init__(self, entry: UserEntry) -> None:
        shown = Text(entry.text)
        for image in entry.images:
            shown.append("\n+ image" + (f" {image}" if image else ""), style="dim")
        super().__init__(shown)
        self.entry = entry
