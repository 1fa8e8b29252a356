"""`heron undo [N]`: put back the files as they were before the agent's last N turns."""

from __future__ import annotations

from pathlib import Path

from agent.errors import UsageError
from agent.interfaces import EventSink
from agent.vcs.checkpoints import NothingToUndo
from agent.vcs.record import latest_checkpoints
from agent.vcs.turnlock import TreeLock


def run_undo(workspace: Path, n: int, emit: EventSink, list_only: bool = False) -> int:
    if n < 1:
        raise UsageError(f"undo {n}: give a number of turns, 1 or more")
    if not workspace.is_dir():
        raise UsageError(f"--repo {workspace}: not a directory")
    lock = TreeLock(workspace)
    lock.acquire()  # never while a turn runs: it would be taken for a killed one and undone
    try:
        return _undo(workspace, n, emit, list_only)
    finally:
        lock.release()


def _undo(workspace: Path, n: int, emit: EventSink, list_only: bool) -> int:
    checkpoints = latest_checkpoints(workspace, emit)
    if checkpoints is None:
        raise NothingToUndo(f"nothing to undo: heron has recorded no change in {workspace.resolve()}")
    if list_only:
        turns = checkpoints.turns()
        print(f"session {checkpoints.session}: {len(turns)} turn(s) can be undone")
        for turn in reversed(turns):
            print(f"  turn {turn.number}: {turn.label} ({', '.join(turn.paths)})")
        return 0
    available = len(checkpoints.turns())
    result = checkpoints.undo(n)
    print(result.describe())
    if available and n > available:
        print(f"(the session had only {available} turn(s) to undo)")
    return 0
