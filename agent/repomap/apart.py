"""The repo map in a process of its own, for the TUI.

Building and refreshing the map of a large tree holds Python's lock for up to a few hundred
milliseconds at a time (unpickling the saved index, sorting 180,000 paths, numpy's sorts): in the
TUI's process each would freeze the screen. Measured on a 100,000-file tree with
`tests/bench/tui.py --repo`: keys waited up to 121 ms while the map was built and 349 ms while a
warm one was read. In a process of its own, the map's work holds nothing of the UI's; the
session's thread waits for the answers on a pipe, which lets go of the lock. The process gets the
same calls as a RepoMap (refresh, render, symbol, stats, close) and ends with the session; should
heron be killed, it ends at its next call, its input closed. (Not by a parent-death signal: Linux
sends it when the thread that started the process ends, and the TUI starts it from a worker.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Sequence

from agent.errors import HeronError
from agent.repomap import DEFAULT_BUDGET, RepoMap, Stats, Symbol
from agent.repomap.render import Rendered

CLOSE_TIMEOUT = 10.0  # seconds the process gets to save its index before it is stopped
# Where this heron's packages are, for the process to import the same code.
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


class MapProcessError(HeronError):
    """The map's process ended before it answered."""


class MapProcess:
    def __init__(self, root: Path, secret_files: Sequence[str]) -> None:
        # A new interpreter, not a fork: the TUI's process has threads, which a fork copies mid-step.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_SOURCE_ROOT, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen([sys.executable, "-m", "agent.repomap.apart", str(root), *secret_files],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._calls = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._answers = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        self._lock = threading.Lock()  # one call at a time: the turn's map, /map and the symbols tool
        self.stats = Stats()

    def refresh(self) -> bool:
        return self._call("refresh")

    def render(self, task: str = "", focus: Sequence[str] = (), budget: int = DEFAULT_BUDGET) -> Rendered:
        return self._call("render", task, tuple(focus), budget)

    def symbol(self, name: str, lines: int = 0) -> Symbol:
        return self._call("symbol", name, lines)

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(OSError):
                self._calls.send(("close", ()))
            self._calls.close()
            try:
                self._process.wait(CLOSE_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._answers.close()

    def _call(self, method: str, *args: Any) -> Any:
        with self._lock:
            try:
                self._calls.send((method, args))
                ok, value, self.stats = self._answers.recv()
            except (EOFError, OSError) as e:
                raise MapProcessError(f"the repo map's process ended (exit {self._process.poll()}): {e}") from None
        if not ok:
            raise value
        return value


def _serve(calls: Connection, answers: Connection, root: str, secret_files: tuple[str, ...]) -> None:
    """The map's process: a RepoMap, each call answered with (ok, value or error, stats)."""
    repo_map = RepoMap(Path(root), secret_files=secret_files)
    try:
        while True:
            try:
                method, args = calls.recv()
            except EOFError:  # heron is gone
                return
            if method == "close":
                return
            try:
                answers.send((True, getattr(repo_map, method)(*args), repo_map.stats))
            except Exception as e:  # the caller raises it, as it would in process
                answers.send((False, e, repo_map.stats))
    finally:
        repo_map.close()


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the TUI's, not the map's
    os.nice(5)  # the map's work (and its parsing workers') gives way to the screen's on a busy machine
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a stray print must not break the answers
    _serve(Connection(0, writable=False), answers, sys.argv[1], tuple(sys.argv[2:]))


if __name__ == "__main__":
    main()
