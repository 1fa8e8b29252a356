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

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from agent.repomap.folders import Folders, git_output, untracked_now

# Three questions asked at once, each a pass over the tree in C; the last, of every folder, is
# not asked when the folders kept since the last look tell (see folders.py).
COMMANDS = {
    "tracked": ["git", "ls-files", "-s", "-z"],  # mode, blob, stage and path of each file in the index
    # Worktree differs from index; in one thread, as git's threads for it took the second core
    # from the Python a warm start waits on (0.2 s of 1.2 on two cores), and alone on the
    # other core it is still done before that Python asks.
    "modified": ["git", "-c", "core.preloadIndex=false", "diff-files", "--name-only", "-z", "--relative"],
    "untracked": ["git", "ls-files", "-z", "--others", "--exclude-standard"],
}
TIMEOUT = 60
CHECKSUM_TAIL = 20  # the index's last bytes: its SHA-1 checksum, or the end of its SHA-256 one
INDEX_ENTRY = re.compile(rb"([^\0\t]*)\t([^\0]*)\0")  # of `ls-files -s -z`: mode blob stage, path


@dataclass(frozen=True)
class GitView:
    """What git says now."""

    tracked: bytes  # `ls-files -s -z`: "mode blob stage\tpath\0" per entry
    modified: frozenset[str]
    untracked: frozenset[str]
    seen_ns: int = 0  # when git began to look: what changed after, it may not have seen
    # The folders its untracked files were known from, none having moved: still as they were.
    folders: Folders | None = None
    stamp: str | None = None  # of the index `tracked` was read from (see index_stamp)

    def tracks(self, path: str) -> bool:
        """Whether the index holds `path`: looked for in its listing, which is quicker for a few
        paths than reading the 10^5 entries of a large tree (see entries)."""
        return self.tracked.find(b"\t" + path.encode("utf-8", "surrogateescape") + b"\0") >= 0

    def entries(self) -> dict[str, bytes]:
        """Path -> its index entry (mode, blob and stage)."""
        return _entries(self.tracked)

    def paths(self) -> Iterator[str]:
        """The paths of the index's entries, one at a time (a dict of a large tree's 200,000
        took 30 MB)."""
        return (path for path, _ in _index_entries(self.tracked))


@dataclass(frozen=True)
class GitState:
    """What git said when the snapshot was saved (see the module's doc)."""

    tracked: bytes
    unvouched: tuple[str, ...]  # cached files git did not vouch for then
    folders: Folders | None = None  # the untracked files then, and the folders as they were
    stamp: str | None = None  # of the index `tracked` was read from (see index_stamp)


class GitLook:
    """The questions of COMMANDS, asked of `root` at once; `view()` waits for the answers. Without
    `untracked`, the walk over every folder is left for view() to ask if it must."""

    def __init__(self, root: Path, untracked: bool = True, index_then: str | None = None) -> None:
        self.root = root
        self.seen_ns = time.time_ns()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.asked: set[str] = set()  # the questions put to git
        self.failed = False
        # Taken before git reads the index: should it change meanwhile, the stamp is the older.
        self.index = index_path(root)
        self.stamp = index_stamp(self.index)
        # The index as it was when `index_then` was taken is not listed again (view() checks it
        # was: listing 200,000 entries takes a core 0.6 s of a warm start).
        same = self.stamp is not None and self.stamp == index_then
        self._ask([name for name in COMMANDS if (untracked or name != "untracked") and not (same and name == "tracked")])

    def view(self, since: GitState | None = None) -> GitView | None:
        """What git said, or None when it could not say (not a work tree, git missing or failing).
        Its untracked files, when not asked yet: from the folders kept `since`, if they tell
        (looked at while git compares the files with its index)."""
        try:
            if since is not None and since.stamp is not None and since.stamp == self.stamp and "tracked" not in self.asked:
                tracked = since.tracked
            else:
                if "tracked" not in self.asked:
                    self._ask(["tracked"])
                tracked = self._answer("tracked")
                if self.stamp != index_stamp(self.index):  # changed while git read it: which it read is unknown
                    self.stamp = None
            untracked = None
            if tracked is not None and "untracked" not in self.processes:
                untracked = self._untracked(since, tracked)
                if untracked is None:
                    self._ask(["untracked"])
            modified = self._answer("modified")
            if untracked is None:
                listed = self._answer("untracked")
                untracked = _names(listed) if listed is not None else None
        except subprocess.TimeoutExpired:
            return None
        finally:
            self.stop()
        if tracked is None or modified is None or untracked is None:
            return None
        kept = since.folders if since is not None and since.folders is not None and untracked is since.folders.untracked else None
        return GitView(tracked, _names(modified), untracked, self.seen_ns, kept, self.stamp)

    def _answer(self, name: str) -> bytes | None:
        process = self.processes.get(name)
        if self.failed or process is None:
            return None
        out = process.communicate(timeout=TIMEOUT)[0]
        return out if process.returncode == 0 else None

    def _ask(self, names: list[str]) -> None:
        try:
            for name in names:
                self.processes[name] = subprocess.Popen(COMMANDS[name], cwd=self.root, stdout=subprocess.PIPE,
                                                        stderr=subprocess.DEVNULL)
                self.asked.add(name)
        except OSError:
            self.failed = True

    def _untracked(self, since: GitState | None, tracked: bytes) -> frozenset[str] | None:
        if since is None or since.folders is None:
            return None
        if since.tracked == tracked:
            return untracked_now(self.root, since.folders, None, None)
        return untracked_now(self.root, since.folders, set(_entries(since.tracked)), set(_entries(tracked)))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.kill()
                process.communicate()
        self.processes = {}


def state_of(view: GitView, cached: Iterable[str], digest: Callable[[str], str | None],
             folders: Folders | None = None) -> GitState:
    """The state to keep with a snapshot whose cached files are `cached`, each with `digest`, and
    the `folders` as git's look found them."""
    vouched: set[str] = set()
    for path, head in _index_entries(view.tracked):
        _, blob, stage = head.decode("ascii", "replace").split(" ")
        if stage == "0" and path not in view.modified and digest(path) == blob:
            vouched.add(path)
    return GitState(view.tracked, tuple(
        sorted({path for path in cached if path not in vouched} | view.modified | view.untracked)), folders, view.stamp)


def index_path(root: Path) -> Path | None:
    """Where git keeps the index of the work tree `root` is in (a worktree's, GIT_INDEX_FILE);
    None outside git."""
    said = git_output(root, ["rev-parse", "--git-path", "index"])
    return root / said.strip() if said and said.strip() else None


def index_stamp(index: Path | None) -> str | None:
    """What tells the contents of git's index apart: its size and the checksum git ends it with.
    None when there is none to read, or git was told to write none (index.skipHash: all zeros)."""
    if index is None:
        return None
    try:
        with open(index, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            file.seek(max(0, size - CHECKSUM_TAIL))
            tail = file.read()
    except OSError:
        return None
    return f"{size}:{tail.hex()}" if len(tail) == CHECKSUM_TAIL and any(tail) else None


def changed_since(state: GitState, view: GitView) -> set[str]:
    """The files to look at: those git did not vouch for then or does not now, and those whose
    index entry changed in between."""
    changed = set(state.unvouched) | view.modified | view.untracked
    if view.tracked != state.tracked:
        then, now = set(state.tracked.split(b"\0")), set(view.tracked.split(b"\0"))
        changed.update(entry.partition(b"\t")[2].decode("utf-8", "surrogateescape") for entry in then ^ now)
    changed.discard("")
    return changed


def _entries(tracked: bytes) -> dict[str, bytes]:
    """Path -> its index entry (mode, blob and stage), of `ls-files -s -z`'s answer."""
    return dict(_index_entries(tracked))


def _index_entries(tracked: bytes) -> Iterator[tuple[str, bytes]]:
    """Each path of `ls-files -s -z`'s answer, with its mode, blob and stage, one at a time."""
    for match in INDEX_ENTRY.finditer(tracked):
        yield match[2].decode("utf-8", "surrogateescape"), match[1]


def _names(out: bytes) -> frozenset[str]:
    return frozenset(name for name in out.decode("utf-8", "surrogateescape").split("\0") if name)
