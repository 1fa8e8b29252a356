"""Checkpoints of the working tree at every turn boundary, and undo of the agent's last turns.

In a git repository a session is a private chain of commits under refs/heron/sessions/<id>:

    session start  (the working tree when the agent first acts; its body names the HEAD it began on)
    turn 1: ...    (the tree when turn 1 ended)
    outside changes (only when someone changed files between two turns)
    open turn: ... (written before the turn's first change: the turn may not reach its end)
    turn 2: ...

Snapshots go through a temporary index (a copy of the user's, so unchanged files are not hashed
again): tracked and untracked files, minus ignored ones. The user's index, stash and branches are
never touched, and the ref keeps every snapshot safe from `git gc`. A turn's changes are the diff
from its parent to itself, so undo reverts exactly what the agent's turns did, and edits made by
anyone between turns stay. A path changed again after the turn is left as it is and reported.

The ref is published before a turn's first tool changes anything, pointing at an "open turn"
commit that holds the tree before it. A heron killed mid-turn never writes the turn's closing
snapshot; the next `heron undo` closes that turn with the tree it finds, so what the agent did
before the kill is the agent's to undo, never taken for the user's own work.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

import git

from agent.errors import HeronError
from agent.events import Warning
from agent.interfaces import EventSink
from agent.sandbox import gitlinks
from tools.git import git_error

REF_PREFIX = "refs/heron/sessions/"
KEEP_SESSIONS = 20  # older sessions' refs are deleted when a new session starts
NOT_A_REPO = ("not a git repository: undo covers only the files heron's file tools change, "
              "not what shell commands do")
# Checkpoint commits are heron's own: they need no identity from the user's configuration.
IDENTITY = {
    "GIT_AUTHOR_NAME": "heron", "GIT_AUTHOR_EMAIL": "heron@localhost",
    "GIT_COMMITTER_NAME": "heron", "GIT_COMMITTER_EMAIL": "heron@localhost",
}
START, TURN, OUTSIDE, OPEN = "session start", "turn", "outside changes", "open turn"
CUT_SHORT = " (heron stopped before the turn ended)"


class NothingToUndo(HeronError):
    """There is no turn left to undo (exit 1: the job's own negative result)."""

    exit_code = 1


@dataclass(frozen=True)
class TurnRecord:
    number: int
    label: str
    paths: list[str]


@dataclass(frozen=True)
class UndoResult:
    turns: list[TurnRecord]
    restored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    # Changed again since the turn (by the user or a later command): left as they are.
    kept: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"undid turn {t.number}: {t.label}" for t in reversed(self.turns)]
        if self.restored:
            lines.append(f"restored: {', '.join(self.restored)}")
        if self.removed:
            lines.append(f"removed: {', '.join(self.removed)}")
        if self.kept:
            lines.append(f"left as they are (changed again since): {', '.join(self.kept)}")
        if not (self.restored or self.removed or self.kept):
            lines.append("the files were already as they were before")
        return "\n".join(lines)


class Checkpoints(Protocol):
    """What front-ends and the loop use: turn boundaries, undo, and the agent's changed paths."""

    session: str

    def begin_turn(self, task: str) -> None: ...

    def end_turn(self, summary: str) -> None: ...

    def before_change(self, path: Path) -> None: ...

    def undo(self, n: int = 1) -> UndoResult: ...

    def turns(self) -> list[TurnRecord]: ...

    def diff_stat(self) -> str: ...


def new_session_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f") + "-" + secrets.token_hex(2)


def first_line(text: str, width: int = 72) -> str:
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


@dataclass(frozen=True)
class _Snap:
    sha: str
    tree: str
    kind: str
    label: str


class GitCheckpoints:
    def __init__(self, repo: git.Repo, session: str, emit: EventSink, notes: list[str] | None = None,
                 chain: list[_Snap] | None = None) -> None:
        self.repo = repo
        self.session = session
        self.emit = emit
        self.notes = notes or []
        self.root = Path(repo.working_tree_dir or ".").resolve()
        self.ref = REF_PREFIX + session
        self.chain: list[_Snap] = chain or []  # oldest first
        self.task = ""
        self._opened = False  # the turn's opening is published (before its first change)
        # The session's private index, kept between snapshots so each re-hashes only what changed.
        self._index_dir = tempfile.TemporaryDirectory(prefix="heron-index-")
        # The sha the ref points at, or None while it does not exist.
        self.published: str | None = self.chain[-1].sha if self.chain else None

    @classmethod
    def latest(cls, repo: git.Repo, emit: EventSink) -> "GitCheckpoints | None":
        """The session whose last turn is the latest: with two herons in one tree, the one that
        began first may have changed files last (their turns take turns, see turnlock)."""
        root = str(Path(repo.working_tree_dir or ".").resolve())
        ours = []
        for ref in _session_refs(repo):
            body = repo.git.log("-1", "--format=%b", ref).splitlines()
            if f"Heron-Workspace: {root}" in body:
                when = next((int(line.split(": ", 1)[1]) for line in body if line.startswith("Heron-Time: ")), 0)
                ours.append((when, ref))
        for _, ref in sorted(ours, key=lambda found: found[0], reverse=True):  # stable: newer ids first on ties
            found = cls(repo, ref.removeprefix(REF_PREFIX), emit, chain=_read_chain(repo, ref))
            if found.close_cut_turn():
                return found
        return None

    def close_cut_turn(self) -> bool:
        """Close a turn that heron never ended (it was killed): its changes so far are the tree
        found now. False when the session has, after that, no turn to undo (its ref is gone)."""
        if self.chain and self.chain[-1].kind == OPEN:
            tree = self.snapshot()
            if tree != self.chain[-1].tree:
                self._record(tree, TURN, label=self.chain[-1].label + CUT_SHORT)
            else:
                self._drop_open()
        return any(snap.kind == TURN for snap in self.chain)

    # -- turn boundaries ----------------------------------------------------------------------

    def begin_turn(self, task: str) -> None:
        self.task = first_line(task)
        self._opened = False
        for note in self.notes:  # said once, when the agent is about to act
            self.emit(Warning(note))
        self.notes = []
        self._guarded(self._begin)

    def _begin(self) -> None:
        tree = self.snapshot()
        if not self.chain:
            base = self.repo.head.commit.hexsha if self.repo.head.is_valid() else ""
            self._record(tree, START, f"Heron-Base: {base}" if base else "")
        elif tree != self.chain[-1].tree:
            self._record(tree, OUTSIDE)

    def end_turn(self, summary: str) -> None:
        self._guarded(lambda: self._end(first_line(summary) or self.task))

    def _end(self, label: str) -> None:
        if not self.chain:
            return
        tree = self.snapshot()
        if tree != self.chain[-1].tree:
            self._record(tree, TURN, label=label)
        elif self.chain[-1].kind == OPEN:
            self._drop_open()

    def before_change(self, path: Path) -> None:
        """Before the turn's first change, publish that a turn is open: the snapshot at its start
        already holds every file, and `heron undo` finds the turn even if heron dies in it."""
        if self.chain and not self._opened:
            self._opened = True
            self._guarded(lambda: self._record(self.chain[-1].tree, OPEN, label=self.task))

    def _drop_open(self) -> None:
        """Forget an open turn that changed nothing: the ref goes back to the last turn, or away."""
        self.chain.pop()
        last_turn = next((snap.sha for snap in reversed(self.chain) if snap.kind == TURN), None)
        if last_turn is None:
            self.discard()
        else:
            self.repo.git.update_ref(self.ref, last_turn, self.published or "")
            self.published = last_turn

    def snapshot(self) -> str:
        return snapshot_tree(self.repo, os.path.join(self._index_dir.name, "index"))

    def _guarded(self, action: Callable[[], None]) -> None:
        # A failed snapshot limits undo; it must not stop the user's task.
        try:
            action()
        except git.GitCommandError as e:
            self.emit(Warning(f"could not record a checkpoint ({git_error(e)}); undo may not cover this turn"))
        except OSError as e:
            self.emit(Warning(f"could not record a checkpoint ({e}); undo may not cover this turn"))

    def _record(self, tree: str, kind: str, extra: str = "", label: str = "") -> None:
        number = sum(snap.kind == TURN for snap in self.chain) + 1
        subject = f"{kind} {number}: {label}" if kind in (TURN, OPEN) else kind
        # Heron-Time orders the sessions of one tree by their latest turn (commit dates are seconds).
        body = "\n".join(filter(None, [f"Heron-Workspace: {self.root}", f"Heron-Time: {time.time_ns()}", extra]))
        argv = [tree, "-m", subject, "-m", body]
        if self.chain:
            argv += ["-p", self.chain[-1].sha]
        sha = self.repo.git.commit_tree(*argv, env=IDENTITY)
        self.chain.append(_Snap(sha, tree, kind, label))
        if kind in (TURN, OPEN):
            self._publish()

    def _publish(self) -> None:
        """Point the session's ref at the chain. Until a turn changes something there is no ref,
        so sessions that changed nothing never hide the one `heron undo` should find."""
        if self.published is None:
            _prune_sessions(self.repo)
        self.repo.git.update_ref(self.ref, self.chain[-1].sha, self.published or "")
        self.published = self.chain[-1].sha

    def discard(self) -> None:
        """Forget this session (its work was committed in a worktree that is gone)."""
        if self.published is not None:
            self.repo.git.update_ref("-d", self.ref, self.published)
            self.published = None

    # -- reading and undoing ------------------------------------------------------------------

    def turns(self) -> list[TurnRecord]:
        records = []
        for parent, snap in zip(self.chain, self.chain[1:]):
            if snap.kind == TURN:
                records.append(TurnRecord(len(records) + 1, snap.label,
                                          _changed(self.repo, parent.tree, snap.tree)))
        return records

    def agent_paths(self) -> list[str]:
        """Every path the agent's turns changed in this session, sorted."""
        return sorted({p for t in self.turns() for p in t.paths})

    def diff_stat(self) -> str:
        """`git diff --stat` of the agent's changes in this session; others' changes are left out."""
        paths = self.agent_paths()
        if not paths:
            return ""
        return self.repo.git.diff("--stat", "--no-color", self.chain[0].tree, self.snapshot(),
                                  "--", *(f":(literal){p}" for p in paths))

    def user_dirty_paths(self) -> set[str]:
        """Paths that already differed from HEAD when the session started: the user's own work."""
        if not self.chain:
            return set()
        start = self.chain[0]
        base = next((line.split(": ", 1)[1] for line in self.repo.git.log("-1", "--format=%b", start.sha).splitlines()
                     if line.startswith("Heron-Base: ")), "")
        if not base:
            return _files(self.repo, start.tree)
        return set(_changed(self.repo, f"{base}^{{tree}}", start.tree))

    def undo(self, n: int = 1) -> UndoResult:
        positions = [i for i, snap in enumerate(self.chain) if snap.kind == TURN]
        if not positions:
            raise NothingToUndo(f"nothing to undo: session {self.session} has no turn left that changed files")
        records = self.turns()
        undone = positions[-n:]
        # Each path goes back to how it was before the earliest undone turn that changed it.
        targets: dict[str, str] = {}
        for i in undone:
            for path in _changed(self.repo, self.chain[i - 1].tree, self.chain[i].tree):
                targets.setdefault(path, self.chain[i - 1].tree)
        moved = set(_changed(self.repo, self.chain[-1].tree, self.snapshot())) & set(targets)
        result = UndoResult(turns=records[-len(undone):], kept=sorted(moved))
        by_tree: dict[str, list[str]] = {}
        for path, tree in targets.items():
            if path not in moved:
                by_tree.setdefault(tree, []).append(path)
        present = {tree: set(paths) & _files(self.repo, tree) for tree, paths in by_tree.items()}
        for tree, paths in by_tree.items():  # removals first: a new directory may stand where a file was
            for path in sorted(set(paths) - present[tree]):
                _remove(self.root, path)
                result.removed.append(path)
        for tree, paths in present.items():
            if paths:
                _checkout(self.repo, tree, sorted(paths))
                result.restored.extend(paths)
        result.restored.sort()
        del self.chain[undone[0]:]
        if self.chain[-1].kind == OPEN:  # the undone turn's opening goes with it
            self.chain.pop()
        self._publish()
        return result


def snapshot_tree(repo: git.Repo, index: str) -> str:
    """The working tree (tracked and untracked, not ignored) as a tree object, through the private
    index file `index`; it starts as a copy of the user's, whose stat data spares re-hashing."""
    if not os.path.exists(index) and os.path.exists(repo.index.path):
        shutil.copyfile(repo.index.path, index)
    env = {"GIT_INDEX_FILE": index}
    _forget_gitlinks(repo, index, env)
    repo.git.execute(["git", "-c", "advice.addEmbeddedRepo=false", "add", "-A", "--", ":/"], env=env)
    return repo.git.write_tree(env=env)


def _forget_gitlinks(repo: git.Repo, index: str, env: dict[str, str]) -> None:
    """Take the submodules (gitlinks) out of the private index before `git add -A`: for one the
    index holds, git runs `git status` inside it, with whatever its config names (a repository a
    sandboxed command made, say); one it finds anew it only reads the HEAD of. Same tree either way."""
    try:
        links = gitlinks.listed(Path(repo.git_dir), Path(index).read_bytes())
    except (OSError, gitlinks.Unreadable):  # `git add` then says what is wrong with the index
        return
    if links:
        repo.git.update_index("--force-remove", "--", *sorted(links), env=env)


def _session_refs(repo: git.Repo) -> list[str]:
    out = repo.git.for_each_ref("--sort=-refname", "--format=%(refname)", REF_PREFIX)
    return [line for line in out.splitlines() if line]


def _prune_sessions(repo: git.Repo) -> None:
    for ref in _session_refs(repo)[KEEP_SESSIONS - 1:]:
        repo.git.update_ref("-d", ref)


def _read_chain(repo: git.Repo, ref: str) -> list[_Snap]:
    out = repo.git.log("--first-parent", "--format=%H%x00%T%x00%s", ref)
    chain = []
    for line in out.splitlines():
        sha, tree, subject = line.split("\0", 2)
        kind = next((k for k in (TURN, OPEN) if subject.startswith(f"{k} ")), None)
        if kind:
            chain.append(_Snap(sha, tree, kind, subject.split(": ", 1)[-1]))
        else:
            chain.append(_Snap(sha, tree, subject, ""))
    return chain[::-1]


def _changed(repo: git.Repo, a: str, b: str) -> list[str]:
    out = repo.git.diff_tree("-r", "-z", "--name-only", "--no-renames", a, b)
    return [p for p in out.split("\0") if p]


def _files(repo: git.Repo, tree: str) -> set[str]:
    return {p for p in repo.git.ls_tree("-r", "-z", "--name-only", tree).split("\0") if p}


def _checkout(repo: git.Repo, tree: str, paths: list[str]) -> None:
    """Write `paths` as they are in `tree`, through a private index, so the user's stays as it is."""
    with tempfile.TemporaryDirectory(prefix="heron-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        repo.git.read_tree(tree, env=env)
        listing = os.path.join(tmp, "paths")
        Path(listing).write_bytes(b"".join(p.encode() + b"\0" for p in paths))
        with open(listing, "rb") as stdin:
            repo.git.execute(["git", "checkout-index", "-f", "-z", "--stdin"], env=env, istream=stdin)


def _remove(root: Path, path: str) -> None:
    """Delete a file the undone turns created, and the directories that held only it."""
    target = root / path
    if target.is_symlink() or target.is_file():
        target.unlink()
    parent = target.parent
    while parent != root and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent

