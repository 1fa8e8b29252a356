"""One agent turn at a time in a working tree, across heron processes.

A turn's changes are the difference between the tree at its start and at its end (see
checkpoints), so a second heron changing the same tree during that turn would have its work
taken for the first one's, and undone with it. A turn therefore holds an advisory lock on the
working tree (flock, released by the kernel when heron dies, so a killed heron never leaves it
held); another heron's turn waits for it, and `heron undo` refuses while it is held. Sessions,
snapshots and the map cache need no lock: each session has its own ref or journal directory and
file, and the cache is SQLite plus an index file replaced atomically.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Callable

import platformdirs

from agent.errors import HeronError, Interrupted
from agent.events import Warning
from agent.interfaces import EventSink, TurnObserver


class TreeBusy(HeronError):
    """Another heron is in a turn in this working tree (exit 1: try again when it ends)."""

    exit_code = 1


def lock_path(workspace: Path) -> Path:
    key = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    return platformdirs.user_state_path("heron") / "locks" / f"{key}.lock"


class TreeLock:
    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace.resolve()
        self.path = lock_path(workspace)
        self._fd: int | None = None

    def acquire(self, waiting: Callable[[str], None] | None = None, cancel: threading.Event | None = None) -> None:
        """Take the lock; when another heron holds it, say so through `waiting` (or raise
        TreeBusy without it) and wait for it, until `cancel` is set (then Interrupted)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another heron"
                if waiting is None:
                    raise TreeBusy(f"{holder} is in a turn in {self.workspace}; try again when it ends") from None
                waiting(holder)
                _wait_for_lock(fd, cancel or threading.Event())
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"heron (pid {os.getpid()})".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def _wait_for_lock(fd: int, cancel: threading.Event) -> None:
    """Block until the lock is ours, looking at `cancel` between tries (a blocking flock would
    not let the user stop a turn that waits on another heron's)."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if cancel.wait(0.1):
                raise Interrupted("interrupted by the user while waiting for another heron's turn") from None


class LockedTurns:
    """A turn observer that holds the working tree's lock from a turn's start to its end."""

    def __init__(self, inner: TurnObserver, workspace: Path, emit: EventSink,
                 cancel: threading.Event | None = None) -> None:
        self.inner = inner
        self.lock = TreeLock(workspace)
        self.emit = emit
        self.cancel = cancel

    def begin_turn(self, task: str) -> None:
        self.lock.acquire(lambda holder: self.emit(Warning(
            f"{holder} is in a turn in this working tree; this turn starts when that one ends")), self.cancel)
        try:
            self.inner.begin_turn(task)
        except BaseException:
            self.lock.release()
            raise

    def end_turn(self, summary: str) -> None:
        try:
            self.inner.end_turn(summary)
        finally:
            self.lock.release()
