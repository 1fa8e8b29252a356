"""`heron undo [N]`: put back the files as they were before the agent's last N turns."""

from __future__ import annotations

from pathlib import Path

from agent.errors import UsageError
<<<<<<< HEAD
from agent.interfaces import EventSink
from agent.vcs.checkpoints import NothingToUndo
from agent.vcs.record import latest_checkpoints
=======
from agent.sinks import ProgressSink
from agent.vcs.checkpoints import NothingToUndo, latest_checkpoints
from agent.vcs.turnlock import TreeLock
>>>>>>> eb9b794 (vcs: one agent turn at a time in a working tree (flock); undo refuses while a turn runs, so two herons never take each other's work for their own)


def run_undo(workspace: Path, n: int, emit: EventSink, list_only: bool = False) -> int:
    if n < 1:
        raise UsageError(f"undo {n}: give a number of turns, 1 or more")
    if not workspace.is_dir():
        raise UsageError(f"--repo {workspace}: not a directory")
<<<<<<< HEAD
    checkpoints = latest_checkpoints(workspace, emit)
=======
    lock = TreeLock(workspace)
    lock.acquire()  # never while a turn runs: it would be taken for a killed one and undone
    try:
        return _undo(workspace, n, list_only)
    finally:
        lock.release()


def _undo(workspace: Path, n: int, list_only: bool) -> int:
    checkpoints = latest_checkpoints(workspace, ProgressSink(sys.stderr))
>>>>>>> eb9b794 (vcs: one agent turn at a time in a working tree (flock); undo refuses while a turn runs, so two herons never take each other's work for their own)
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
