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
        # The screen is read through a control-mode client (tmux -C) that stays attached: a
        # command a line, no process started per look. A `tmux capture-pane` per look cost 2 ms
        # of CPU, and the keystroke benchmark looks every 2 ms, on cores the app needs.
        self._control = subprocess.Popen(
            ["tmux", "-L", self.socket, "-C", "attach-session", "-t", "app", "-f", "ignore-size,no-output"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, errors="replace")
        self._command_reply("")  # its reply to attaching

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              env=self.env, timeout=30)
        return proc.stdout if proc.returncode == 0 else ""

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "app", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "app", "-l", text)

    def screen(self) -> str:
        assert self._control.stdin is not None
        self._control.stdin.write("capture-pane -p -t app\n")
        self._control.stdin.flush()
        return self._command_reply("capture-pane")

    def _command_reply(self, command: str) -> str:
        """The control client's reply to its next command: the lines between %begin and the %end
        of the same time and number (a line of the screen may start with "%end" too);
        notifications outside them are skipped; "" on %error."""
        assert self._control.stdout is not None
        lines: list[str] = []
        stamp = None
        for line in self._control.stdout:
            if stamp is None:
                if line.startswith("%begin "):
                    stamp = line.removeprefix("%begin ")
            elif line in (f"%end {stamp}", f"%error {stamp}"):
                return "".join(lines) if line.startswith("%end ") else ""
            else:
                lines.append(line)
        raise AssertionError(f"tmux's control client ended before it answered {command!r}")

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
        self._control.kill()
        self._control.wait()
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, env=self.env, timeout=30)
