"""The assistant's answer, streamed as Markdown, with its reasoning folded away above it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from agent.tui.entries import AssistantEntry


class AssistantMessage(Vertical):
    def __init__(self, entry: AssistantEntry) -> None:
        super().__init__()
        self.entry = entry
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        with Collapsible(title=self._reasoning_title(), collapsed=not self.entry.reasoning_expanded,
                         classes="reasoning") as fold:
            fold.display = bool(self.entry.reasoning)
            # Filled only when opened: a long reasoning is never laid out while it is folded.
            yield Static(self.entry.reasoning if self.entry.reasoning_expanded else "", markup=False)
        markdown = Markdown(self.entry.text)
        markdown.display = bool(self.entry.text)
        yield markdown

    def _reasoning_title(self) -> str:
        if self.entry.streaming and not self.entry.text:
            return "Thinking…"
        return f"Thought ({len(self.entry.reasoning.split())} words)"

    async def add_text(self, text: str) -> None:
        self.entry.text += text
        markdown = self.query_one(Markdown)
        if self._stream is None:
            markdown.display = True
            self._set_reasoning_title()
            self._stream = Markdown.get_stream(markdown)
        await self._stream.write(text)

    def add_reasoning(self, text: str) -> None:
        self.entry.reasoning += text
        fold = self.query_one(Collapsible)
        if not fold.display:
            fold.display = True
        if not fold.collapsed:
            self.query_one(".reasoning Static", Static).update(self.entry.reasoning)

    async def finish(self, text: str, reasoning: str) -> None:
        """The turn is complete: show its authoritative text and stop streaming."""
        await self._stop_stream()
        self.entry.streaming = False
        self.entry.reasoning = reasoning or self.entry.reasoning
        if text != self.entry.text:
            self.entry.text = text
            await self.query_one(Markdown).update(text)
        self.query_one(Markdown).display = bool(text)
        self.query_one(Collapsible).display = bool(self.entry.reasoning)
        self._set_reasoning_title()

    async def restart(self) -> None:
        """The stream broke and is retried: forget what was shown."""
        await self._stop_stream()
        self.entry.text = self.entry.reasoning = ""
        await self.query_one(Markdown).update("")
        self.query_one(Markdown).display = False
        self.query_one(Collapsible).display = False

    async def _stop_stream(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    def _set_reasoning_title(self) -> None:
        self.query_one(Collapsible).title = self._reasoning_title()

    def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        self.entry.reasoning_expanded = True
        self.query_one(".reasoning Static", Static).update(self.entry.reasoning)

    def on_collapsible_collapsed(self, event: Collapsible.Collapsed) -> None:
        self.entry.reasoning_expanded = False
