"""The real `heron` in a real terminal: a tmux server of its own, keys in, the screen's text out."""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from pathlib import Path

_names = itertools.count()


class TmuxApp:
    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], size: tuple[int, int] = (120, 40)) -> None:
        # A private server (-L), so the app gets exactly this environment and no one else's sessions.
        self.socket = f"heron-test-{os.getpid()}-{next(_names)}"
        self.env = env
        width, height = size
        self._tmux("new-session", "-d", "-s", "app", "-x", str(width), "-y", str(height), "-c", str(cwd),
                   *argv)
        self._tmux("set-option", "-t", "app", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              env=self.env, timeout=30)
        return proc.stdout if proc.returncode == 0 else ""

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "app", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "app", "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "app")

    def wait_for(self, text: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def exited(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "app", "#{pane_dead}").strip() == "1"

    def pid(self) -> int:
        return int(self._tmux("display-message", "-p", "-t", "app", "#{pane_pid}").strip())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, env=self.env, timeout=30)
