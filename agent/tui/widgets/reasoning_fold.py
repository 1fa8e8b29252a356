"""The model's reasoning, folded away; its text is laid out only while the fold is open."""

from __future__ import annotations

from textual.widgets import Collapsible, Static

from agent.tui.entries import AssistantEntry


class ReasoningFold(Collapsible):
    def __init__(self, entry: AssistantEntry) -> None:
        super().__init__(Static(entry.reasoning if entry.reasoning_expanded else "", markup=False),
                         title=title_of(entry), collapsed=not entry.reasoning_expanded, classes="reasoning")
        self.entry = entry
        self.display = bool(entry.reasoning)

    def grow(self, text: str) -> None:
        self.entry.reasoning += text
        self.display = True
        if not self.collapsed:
            self.query_one(Static).update(self.entry.reasoning)

    def refresh_title(self) -> None:
        self.title = title_of(self.entry)
        self.display = bool(self.entry.reasoning)

    def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        self.entry.reasoning_expanded = True
        self.query_one(Static).update(self.entry.reasoning)

    def on_collapsible_collapsed(self, event: Collapsible.Collapsed) -> None:
        self.entry.reasoning_expanded = False


def title_of(entry: AssistantEntry) -> str:
    if entry.streaming and not entry.text:
        return "Thinking…"
    return f"Thought ({len(entry.reasoning.split())} words)"
