"""Shown while no model server answers: how to start one, and a retry every few seconds."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Markdown, Static

HELP = """\
# No model server

{error}

Start one, then heron connects by itself:

- `heron serve` starts a server for Qwen3.6 on this machine (`heron serve --print` shows the command)
- or start vLLM, llama-server, Ollama, LM Studio or SGLang yourself, and point heron at it with
  `--base-url http://127.0.0.1:8000/v1` or `HERON_BASE_URL`.
"""


class NoEndpointScreen(Screen[None]):
    BINDINGS = [Binding("r", "retry", "retry now"), Binding("q", "app.quit", "quit")]

    def __init__(self, error: str) -> None:
        super().__init__(id="no-endpoint")
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(id="no-endpoint-box"):
            yield Markdown(HELP.format(error=self.error))
            yield Static("Retrying every few seconds · r retry now · q quit", id="retry-status")

    def failed_again(self, error: str) -> None:
        if error != self.error:
            self.error = error
            self.query_one(Markdown).update(HELP.format(error=error))

    def action_retry(self) -> None:
        self.app.action_connect()  # type: ignore[attr-defined]
