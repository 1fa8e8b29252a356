"""The side panel's plan: the model's todo list, with each item's state."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

MARKS = {"pending": ("○", "dim"), "in_progress": ("▸", "bold yellow"), "done": ("✓", "green")}


class PlanPanel(Static):
    def __init__(self) -> None:
        super().__init__(id="plan")
        self.border_title = "Plan"
        self.show([])

    def show(self, items: list[dict[str, str]]) -> None:
        self.items = items
        if not items:
            self.update(Text("no plan yet", style="dim"))
            return
        text = Text()
        for item in items:
            mark, style = MARKS.get(item.get("status", "pending"), MARKS["pending"])
            text.append(f"{mark} ", style)
            text.append(item.get("text", "") + "\n", "strike dim" if item.get("status") == "done" else "")
        text.rstrip()
        self.update(text)
