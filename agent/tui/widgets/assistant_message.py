"""The assistant's answer: streamed as Markdown while it arrives, one light widget once finished."""

from __future__ import annotations

from rich.markdown import Markdown as RichMarkdown
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from agent.tui.entries import AssistantEntry
from agent.tui.widgets.reasoning_fold import ReasoningFold

SHOW_EVERY = 1 / 15  # seconds between updates of a streaming answer


class Answer(Vertical):
    """A finished answer. Textual's Markdown (a widget per block) is only worth its cost while
    text streams in; a thousand old answers are each one Static."""

    def __init__(self, entry: AssistantEntry) -> None:
        super().__init__()
        self.entry = entry

    def compose(self) -> ComposeResult:
        if self.entry.reasoning:
            yield ReasoningFold(self.entry)
        if self.entry.text:
            yield Static(RichMarkdown(self.entry.text), classes="answer")


class AssistantMessage(Vertical):
    """The answer being streamed. Text arriving at hundreds of pieces a second is shown a few
    times a second: each Markdown update re-lays out the transcript, and keys must not queue
    behind them."""

    def __init__(self, entry: AssistantEntry) -> None:
        super().__init__()
        self.entry = entry
        self._stream: MarkdownStream | None = None
        self._pending = ""

    def compose(self) -> ComposeResult:
        yield ReasoningFold(self.entry)
        markdown = Markdown(self.entry.text)
        markdown.display = bool(self.entry.text)
        yield markdown

    def add_text(self, text: str) -> None:
        self.entry.text += text
        if not self._pending:
            self.set_timer(SHOW_EVERY, self._show_pending)
        self._pending += text

    async def _show_pending(self) -> None:
        text, self._pending = self._pending, ""
        if not text or not self.entry.streaming:
            return
        if self._stream is None:
            markdown = self.query_one(Markdown)
            markdown.display = True
            self.query_one(ReasoningFold).refresh_title()
            self._stream = Markdown.get_stream(markdown)
        await self._stream.write(text)

    def add_reasoning(self, text: str) -> None:
        self.query_one(ReasoningFold).grow(text)

    async def finish(self, text: str, reasoning: str) -> None:
        """The turn is complete: show its authoritative text and stop streaming."""
        await self._stop_stream()
        self.entry.streaming = False
        self.entry.reasoning = reasoning or self.entry.reasoning
        markdown = self.query_one(Markdown)
        self.entry.text = text
        if markdown.source != text:
            await markdown.update(text)
        markdown.display = bool(text)
        self.query_one(ReasoningFold).refresh_title()

    async def restart(self) -> None:
        """The stream broke and is retried: forget what was shown."""
        await self._stop_stream()
        self.entry.text = self.entry.reasoning = ""
        markdown = self.query_one(Markdown)
        await markdown.update("")
        markdown.display = False
        self.query_one(ReasoningFold).refresh_title()

    async def _stop_stream(self) -> None:
        self._pending = ""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
