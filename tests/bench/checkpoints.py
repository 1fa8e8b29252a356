"""What a checkpoint costs, against the anchor `git status` on the same tree.

A turn records two snapshots (its start and its end) through a private index; both must look at
every file, as `git status` does. Run: python tests/bench/checkpoints.py [FILES]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import git

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.vcs.checkpoints import GitCheckpoints, new_session_id  # noqa: E402
from tests.conftest import make_repo  # noqa: E402

RUNS = 7


def build(path: Path, files: int) -> None:
    make_repo(path, {f"pkg{i % 50}/mod{i}.py": f"def f{i}():\n    return {i}\n" * 20 for i in range(files)})
    for i in range(files // 20):  # the user's work in progress: edits and new files
        (path / f"pkg{i % 50}/mod{i}.py").write_text(f"changed = {i}\n")
        (path / f"pkg{i % 50}/new{i}.py").write_text(f"new = {i}\n")


def median_seconds(action: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        build(path, files)
        repo = git.Repo(path)
        status = median_seconds(lambda: subprocess.run(["git", "status", "--porcelain"], cwd=path,
                                                       capture_output=True, check=True))
        first = median_seconds(lambda: GitCheckpoints(repo, new_session_id(), ignore).snapshot())
        checkpoints = GitCheckpoints(repo, new_session_id(), ignore)
        counter = iter(range(10**6))

        def turn() -> None:
            checkpoints.begin_turn("bench")
            (path / "pkg0/mod0.py").write_text(f"turn = {next(counter)}\n")
            checkpoints.end_turn("changed mod0")

        later = median_seconds(turn)
        undo = median_seconds(lambda: checkpoints.undo(1))
    print(f"repository: {files} tracked files, {files // 20} modified, {files // 20} untracked; median of {RUNS}")
    print(f"anchor  git status --porcelain              {status * 1000:8.1f} ms   1.00x")
    print(f"        a session's first snapshot          {first * 1000:8.1f} ms   {first / status:.2f}x")
    print(f"        a turn: start + end checkpoints     {later * 1000:8.1f} ms   {later / status:.2f}x")
    print(f"        undo of one turn                    {undo * 1000:8.1f} ms   {undo / status:.2f}x")


def ignore(event: object) -> None:
    pass


if __name__ == "__main__":
    main()
