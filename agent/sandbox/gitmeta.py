"""Git metadata by allow-list: the sandbox may change what ordinary git work writes, nothing else.

Git reads much of its directory as instructions (config, hooks/, commondir, info/, modules/, a
worktree's gitdir...), and a name that does not exist yet is as dangerous as one that does. So
the sandbox never gets the real git directory writable. It gets a stand-in (`Shadow.copy`, a
host directory bound over it) in which:
- objects/, refs/ and logs/ are the real ones, bound writable (made first when missing);
- every other existing entry is the real one, bound read-only;
- the top-level files git writes during ordinary work (HEAD, index, packed-refs, the *_HEAD
  files, COMMIT_EDITMSG, MERGE_MSG...) and the rebase / cherry-pick state directories are
  copies, synced both ways by heron before and after each command (`Shadow.sync`), an index
  only when it registers no submodule the repository did not have (gitlinks.py).
Anything else made in the stand-in (a `commondir`, a `hooks/`) stays there and is never copied
back. The file tools apply the same rule (`writable`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from agent.edits import beneath
from agent.errors import ToolError
from agent.sandbox.gitlinks import Gitlinks

# Bound writable: git's data, never its instructions.
BOUND = ("objects", "refs", "logs")
# Copied in and back: what commits, merges, rebases and cherry-picks write at the top.
FILES = ("HEAD", "index", "packed-refs", "COMMIT_EDITMSG", "MERGE_MSG", "MERGE_MODE", "SQUASH_MSG",
         "AUTO_MERGE", "TAG_EDITMSG", "MERGE_RR")
STATE_DIRS = ("rebase-merge", "rebase-apply", "sequencer")
# The to-do lists of a rebase or a sequence of picks: an `exec` line in one runs as the user on
# their next `git rebase --continue`.
STEP_LISTS = ("rebase-merge/git-rebase-todo", "sequencer/todo")


def synced(name: str) -> bool:
    """A top-level name of the git directory that heron copies back from the sandbox."""
    return name in FILES or name in STATE_DIRS or (name.endswith("_HEAD") and name.isupper())


def writable(inside: PurePath) -> bool:
    """May a path inside a git directory (relative to it) be changed? The same rule as the sandbox's."""
    parts = inside.parts
    if not parts:
        return False
    return parts[0] in BOUND or (synced(parts[0]) and not parts[0].endswith(".lock"))


def git_dirs(workspace: Path) -> list[Path]:
    """The git directories the workspace's git reads: its .git, or for a linked worktree the
    repository's common directory and then the worktree's own."""
    dot_git = workspace / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return [dot_git]
    if not dot_git.is_file():
        return []
    try:
        text = dot_git.read_text(encoding="utf-8").strip()
        own = (workspace / text.removeprefix("gitdir:").strip()).resolve()
        common = (own / (own / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except (OSError, UnicodeDecodeError):
        return []
    return [d for d in (common, own) if d.is_dir()]


@dataclass
class Shadow:
    """The sandbox's stand-in for one git directory, and what was last synced through it."""

    real: Path
    copy: Path
    gitlinks: Gitlinks
    baseline: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def create(cls, real: Path) -> "Shadow":
        for name in BOUND:
            (real / name).mkdir(exist_ok=True)
        shadow = cls(real, Path(tempfile.mkdtemp(prefix="heron-git-")), Gitlinks.create(real))
        shadow.sync()
        return shadow

    def sync(self) -> list[str]:
        """Copy what changed since the last sync: the sandbox's side wins over the host's, and
        only allowed names ever reach the real directory. Returns why something was not synced."""
        mine, theirs = _snapshot(self.copy), _snapshot(self.real)
        refused = []
        for name in sorted(set(mine) | set(theirs) | set(self.baseline)):
            before, inside, outside = self.baseline.get(name), mine.get(name), theirs.get(name)
            if inside != before and name == "index" and inside is not None \
                    and (why := self.gitlinks.refused(inside, outside)):
                refused.append(why)
                _put(self.copy, name, outside)  # the sandbox sees the repository's index again
            elif inside != before and name in STEP_LISTS and inside is not None \
                    and (why := _exec_added(name, inside, outside)):
                refused.append(why)
                _put(self.copy, name, outside)
            elif inside != before:
                _put(self.real, name, inside)
            elif outside != before:
                _put(self.copy, name, outside)
        for name in STATE_DIRS:
            with contextlib.suppress(OSError):  # a finished rebase leaves its directory empty
                _remove_empty(self.real / name)
        self.baseline = _snapshot(self.real)
        return refused

    def close(self) -> list[str]:
        refused = self.sync()
        shutil.rmtree(self.copy, ignore_errors=True)
        return refused


def _exec_added(name: str, new: bytes, real: bytes | None) -> str:
    """Why the to-do list `new` may not replace `real`: it adds commands to run, or "" when not."""
    added = _exec_lines(new) - _exec_lines(real or b"")
    if not added:
        return ""
    return (f"the command wrote `exec` lines into .git/{name} ({b'; '.join(sorted(added)).decode(errors='replace')}); "
            "git would run them as the user on the next `git rebase --continue`, so heron kept the list as it was")


def _exec_lines(todo: bytes) -> set[bytes]:
    return {line.strip() for line in todo.splitlines() if line.split(maxsplit=1)[:1] in ([b"exec"], [b"x"])}


def _snapshot(root: Path) -> dict[str, bytes]:
    """The synced files under `root` (relative name -> bytes); links and odd files are left out."""
    found: dict[str, bytes] = {}
    try:
        names = os.listdir(root)
    except OSError:
        return found
    for name in names:
        if not synced(name) or name.endswith(".lock"):
            continue
        if name in STATE_DIRS:
            for top, dirs, files in os.walk(root / name):
                found.update(_read_all(root, Path(top), files))
        else:
            found.update(_read_all(root, root, [name]))
    return found


def _read_all(root: Path, folder: Path, names: list[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name in names:
        if name.endswith(".lock"):
            continue
        path = folder / name
        with contextlib.suppress(ToolError, OSError):
            if stat.S_ISREG(os.lstat(path).st_mode):
                out[str(path.relative_to(root))] = beneath.read_bytes(root, path, name)
    return out


def _put(root: Path, name: str, data: bytes | None) -> None:
    path = root / name
    with contextlib.suppress(ToolError, OSError):  # a race in the sandbox's copy: next time
        if data is None:
            beneath.unlink(root, path, name)
        else:
            beneath.write_atomic(root, path, data, name)


def _remove_empty(folder: Path) -> None:
    if folder.is_dir() and not folder.is_symlink():
        for child in folder.iterdir():
            _remove_empty(child)
        folder.rmdir()
