"""Which files changed since the map was saved, from what git says of the work tree.

A new process must otherwise stat every file to know its cache is fresh: on a tree of 180,000
files that took over a second of Python. git does it in C, so the snapshot keeps what git said
when it was saved: its index (`ls-files -s`, each tracked file's blob id) and the files git could
not vouch for (modified, untracked, in conflict, or cached with other contents). A file git says
is clean holds its index's blob, and a cached file whose digest (source.digest_of: the same id)
is that blob is fresh. So a new process need look only at the files git names now or named then,
and at those whose blob changed in between (a checkout, a commit of edits made meanwhile).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

# Three questions asked at once, each a pass over the tree in C.
COMMANDS = {
    "tracked": ["git", "ls-files", "-s", "-z"],  # mode, blob, stage and path of each file in the index
    "modified": ["git", "diff-files", "--name-only", "-z", "--relative"],  # worktree differs from index
    "untracked": ["git", "ls-files", "-z", "--others", "--exclude-standard"],
}
TIMEOUT = 60


@dataclass(frozen=True)
class GitView:
    """What git says now."""

    tracked: bytes  # `ls-files -s -z`: "mode blob stage\tpath\0" per entry
    modified: frozenset[str]
    untracked: frozenset[str]

    def tracks(self, path: str) -> bool:
        """Whether the index holds `path`: looked for in its listing, which is quicker for a few
        paths than reading the 10^5 entries of a large tree (see entries)."""
        return self.tracked.find(b"\t" + path.encode("utf-8", "surrogateescape") + b"\0") >= 0

    def entries(self) -> dict[str, bytes]:
        """Path -> its index entry (mode, blob and stage)."""
        found: dict[str, bytes] = {}
        for entry in self.tracked.split(b"\0"):
            head, _, path = entry.partition(b"\t")
            if path:
                found[path.decode("utf-8", "surrogateescape")] = head
        return found


@dataclass(frozen=True)
class GitState:
    """What git said when the snapshot was saved (see the module's doc)."""

    tracked: bytes
    unvouched: tuple[str, ...]  # cached files git did not vouch for then


class GitLook:
    """The three questions of COMMANDS, asked of `root` at once; `view()` waits for the answers."""

    def __init__(self, root: Path) -> None:
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name, command in COMMANDS.items():
                self.processes[name] = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE,
                                                        stderr=subprocess.DEVNULL)
        except OSError:
            self.stop()

    def view(self) -> GitView | None:
        """What git said, or None when it could not say (not a work tree, git missing or failing)."""
        if len(self.processes) < len(COMMANDS):
            return None
        out: dict[str, bytes] = {}
        try:
            for name, process in self.processes.items():
                out[name] = process.communicate(timeout=TIMEOUT)[0]
                if process.returncode != 0:
                    return None
        except subprocess.TimeoutExpired:
            return None
        finally:
            self.stop()
        return GitView(out["tracked"], _names(out["modified"]), _names(out["untracked"]))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.kill()
                process.communicate()
        self.processes = {}


def state_of(view: GitView, cached: Iterable[str], digest: Callable[[str], str | None]) -> GitState:
    """The state to keep with a snapshot whose cached files are `cached`, each with `digest`."""
    vouched: set[str] = set()
    for path, head in view.entries().items():
        _, blob, stage = head.decode("ascii", "replace").split(" ")
        if stage == "0" and path not in view.modified and digest(path) == blob:
            vouched.add(path)
    return GitState(view.tracked, tuple(
        sorted({path for path in cached if path not in vouched} | view.modified | view.untracked)))


def changed_since(state: GitState, view: GitView) -> set[str]:
    """The files to look at: those git did not vouch for then or does not now, and those whose
    index entry changed in between."""
    changed = set(state.unvouched) | view.modified | view.untracked
    if view.tracked != state.tracked:
        then, now = set(state.tracked.split(b"\0")), set(view.tracked.split(b"\0"))
        changed.update(entry.partition(b"\t")[2].decode("utf-8", "surrogateescape") for entry in then ^ now)
    changed.discard("")
    return changed


def _names(out: bytes) -> frozenset[str]:
    return frozenset(name for name in out.decode("utf-8", "surrogateescape").split("\0") if name)
