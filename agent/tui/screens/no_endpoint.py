"""Shown while no model server answers: how to start one, a retry every few seconds, and `heron
serve` run from here: s shows its plan (a dry run), y then downloads and starts what it planned."""

from __future__ import annotations

import subprocess
import sys

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Log, Markdown, Static

HELP = """\
# No model server

{error}

Start one, then heron connects by itself:

- press **s**: `heron serve` plans a server for this machine (model, window, KV cache), then **y**
  downloads the weights and starts it (`heron serve --dry-run` / `heron serve --yes` in a shell)
- or start vLLM, llama-server, Ollama, LM Studio or SGLang yourself, and point heron at it with
  `--base-url http://127.0.0.1:8000/v1` or `HERON_BASE_URL`.
"""
SERVE = [sys.executable, "-m", "agent", "serve"]


class NoEndpointScreen(Screen[None]):
    DEFAULT_CSS = "#serve-log { height: auto; max-height: 14; }"
    BINDINGS = [Binding("r", "retry", "retry now"), Binding("s", "serve_plan", "plan a server"),
                Binding("y", "serve_start", "start it", show=False), Binding("q", "app.quit", "quit")]

    def __init__(self, error: str) -> None:
        super().__init__(id="no-endpoint")
        self.error = error
        self.planned = False

    def compose(self) -> ComposeResult:
        with Vertical(id="no-endpoint-box"):
            yield Markdown(HELP.format(error=self.error))
            yield Static("Retrying every few seconds · r retry now · s plan a server · q quit", id="retry-status")
            yield Log(id="serve-log", auto_scroll=True)

    def failed_again(self, error: str) -> None:
        if error != self.error:
            self.error = error
            self.query_one(Markdown).update(HELP.format(error=error))

    def action_retry(self) -> None:
        self.app.action_connect()  # type: ignore[attr-defined]

    def action_serve_plan(self) -> None:
        self.run_serve(["--dry-run"])

    def action_serve_start(self) -> None:
        if self.planned:  # y answers the plan shown: nothing is fetched before the user saw it
            self.run_serve(["--yes"])

    def run_serve(self, flags: list[str]) -> None:
        """`heron serve` in a subprocess, its output streamed into the log as it comes. Started
        here, on the screen's thread: the workers run at a lower priority (agent/priority.py),
        which a model server started from one of them would keep."""
        self.query_one("#serve-log", Log).write_line(f"$ heron serve {' '.join(flags)}")
        process = subprocess.Popen([*SERVE, *flags], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True)
        self._stream(process, flags)

    @work(thread=True, exclusive=True, group="serve")
    def _stream(self, process: subprocess.Popen[str], flags: list[str]) -> None:
        log = self.query_one("#serve-log", Log)
        assert process.stdout
        for line in process.stdout:
            self.app.call_from_thread(log.write_line, line.rstrip("\n"))
        code = process.wait()
        self.app.call_from_thread(self._served, flags, code)

    def _served(self, flags: list[str], code: int) -> None:
        log = self.query_one("#serve-log", Log)
        if code != 0:
            log.write_line(f"heron serve exited with {code}")
        elif "--dry-run" in flags:
            self.planned = True
            log.write_line("press y to download the weights and start this server")
        else:
            self.action_retry()
