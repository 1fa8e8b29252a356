"""The assistant's answer as Markdown, with its reasoning folded away above it.

Text arriving at hundreds of pieces a second is shown a few times a second: each update re-lays
out the transcript, and keys must not queue behind updates.
"""

from __future__ import annotations

from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from agent.tui.entries import AssistantEntry
from agent.tui.widgets.fold import Fold

SHOW_EVERY = 1 / 15  # seconds between updates of a streaming answer


class AssistantMessage(Vertical):
    def __init__(self, entry: AssistantEntry) -> None:
        super().__init__()
        self.entry = entry
        self._update_pending = False

    def compose(self) -> ComposeResult:
        fold = Fold(self._reasoning_title(), lambda: Text(self.entry.reasoning, style="dim italic"),
                    expanded=self.entry.reasoning_expanded, classes="reasoning")
        fold.display = bool(self.entry.reasoning)
        yield fold
        answer = Static(Markdown(self.entry.text), classes="answer")
        answer.display = bool(self.entry.text)
        yield answer

    def _reasoning_title(self) -> str:
        if self.entry.streaming and not self.entry.text:
            return "Thinking…"
        return f"Thought ({len(self.entry.reasoning.split())} words)"

    def add_text(self, text: str) -> None:
        self.entry.text += text
        self._show_soon()

    def add_reasoning(self, text: str) -> None:
        self.entry.reasoning += text
        self._show_soon()

    def _show_soon(self) -> None:
        if not self._update_pending:
            self._update_pending = True
            self.set_timer(SHOW_EVERY, self.show)

    def show(self) -> None:
        self._update_pending = False
        fold = self.query_one(Fold)
        fold.display = bool(self.entry.reasoning)
        fold.title = self._reasoning_title()
        if fold.expanded:
            fold.refresh(layout=True)
        answer = self.query_one(".answer", Static)
        answer.display = bool(self.entry.text)
        answer.update(Markdown(self.entry.text))

    def finish(self, text: str, reasoning: str) -> None:
        """The turn is complete: show its authoritative text."""
        self.entry.streaming = False
        self.entry.text = text
        self.entry.reasoning = reasoning or self.entry.reasoning
        self.show()

    def restart(self) -> None:
        """The stream broke and is retried: forget what was shown."""
        self.entry.text = self.entry.reasoning = ""
        self.show()

    def on_fold_toggled(self, event: Fold.Toggled) -> None:
        self.entry.reasoning_expanded = event.fold.expanded
