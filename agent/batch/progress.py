"""The batch's progress line on stderr, and each task's transcript as its events arrive."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Callable, TextIO


class Progress:
    """done/running/failed, tokens/s, an ETA and each server's load, on one stderr line."""

    def __init__(self, total: int, out: TextIO, detail: Callable[[], str] = lambda: "") -> None:
        self.total, self.out, self.detail = total, out, detail
        self.done = self.running = self.failed = self.tokens = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.live = out.isatty()
        self.shown = 0.0

    def update(self, **change: int) -> None:
        with self.lock:
            for key, delta in change.items():
                setattr(self, key, getattr(self, key) + delta)
            # Not a terminal (a log file): a line per finished task, not per change; live, at most
            # ten redraws a second, whatever the number of workers.
            now = time.monotonic()
            if "done" in change or (self.live and now - self.shown > 0.1):
                self.shown = now
                self._show()

    def say(self, message: str) -> None:
        with self.lock:
            self.out.write(("\r\x1b[K" if self.live else "") + message + "\n")
            if self.live:
                self._show()
            self.out.flush()

    def end(self) -> None:
        if self.live:
            self.out.write("\n")

    def _show(self) -> None:
        elapsed = time.monotonic() - self.started
        rate = self.tokens / elapsed if elapsed else 0.0
        eta = ""
        if self.done:
            left = (self.total - self.done) * elapsed / self.done
            eta = f" | ETA {int(left // 60)}m{int(left % 60):02d}s"
        detail = self.detail()
        line = (f"[{self.done}/{self.total} done | {self.running} running | {self.failed} failed | "
                f"{rate:.0f} tok/s{eta}]" + (f" {detail}" if detail else ""))
        self.out.write("\r\x1b[K" + line if self.live else line + "\n")
        self.out.flush()


class TaskLog:
    """A task's transcript on the driver: the event lines as they come, and counts taken from them."""

    def __init__(self, path: Path, on_tokens: Callable[[int], None]) -> None:
        self.path, self.on_tokens = path, on_tokens
        self.file = open(path, "w", encoding="utf-8")
        self.steps = self.tokens_in = self.tokens_out = self.cached = 0

    def line(self, line: str) -> None:
        self.file.write(line + "\n")
        if line.startswith('{"type": "assistant_turn"'):
            self.steps += 1
        elif line.startswith('{"type": "usage"'):
            event = json.loads(line)
            self.tokens_in += event.get("prompt_tokens") or 0
            self.tokens_out += event.get("completion_tokens") or 0
            self.cached += event.get("cached_tokens") or 0
            self.on_tokens(event.get("completion_tokens") or 0)

    def restart(self) -> None:
        """The task started over (Ray retried it after its node died): its log starts over too."""
        self.file.seek(0)
        self.file.truncate()
        self.steps = self.tokens_in = self.tokens_out = self.cached = 0

    def close(self) -> None:
        self.file.close()
