"""The assistant's answer as Markdown, with its reasoning folded away above it.

Text arriving at hundreds of pieces a second is shown a few times a second: each update re-lays
out the transcript, and keys must not queue behind updates.
"""

from __future__ import annotations

import re

from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from agent.tui.entries import AssistantEntry
from agent.tui.widgets.fold import Fold

SHOW_EVERY = 1 / 10  # seconds between updates of a streaming answer
# A streaming answer is re-rendered from its last sealed piece on; whole blocks past this many
# characters are sealed into a Static of their own, so an update costs the same at any length.
SEAL_AFTER = 2000
FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)


def settled_length(text: str) -> int:
    """How much of `text` is whole Markdown blocks: up to its last blank line outside a code fence."""
    end = 0
    for match in re.finditer(r"\n\s*\n", text):
        if len(FENCE.findall(text, 0, match.start())) % 2 == 0:
            end = match.end()
    return end


class AssistantMessage(Vertical):
    def __init__(self, entry: AssistantEntry) -> None:
        super().__init__()
        self.entry = entry
        self._update_pending = False
        self._sealed = 0  # characters of the answer already in sealed pieces

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
        rest = self.entry.text[self._sealed:]
        if self.entry.streaming and len(rest) > SEAL_AFTER and (cut := settled_length(rest)):
            self.mount(Static(Markdown(rest[:cut]), classes="sealed"), before=answer)
            self._sealed += cut
            rest = rest[cut:]
        answer.display = bool(rest)
        answer.update(Markdown(rest))

    def finish(self, text: str, reasoning: str) -> None:
        """The turn is complete: show its authoritative text."""
        self.entry.streaming = False
        self.entry.text = text
        self.entry.reasoning = reasoning or self.entry.reasoning
        self.show()

    def restart(self) -> None:
        """The stream broke and is retried: forget what was shown."""
        self.entry.text = self.entry.reasoning = ""
        self._sealed = 0
        self.query(".sealed").remove()
        self.show()

    def on_fold_toggled(self, event: Fold.Toggled) -> None:
        self.entry.reasoning_expanded = event.fold.expanded
