"""Which submodules an index written in the sandbox may register.

A gitlink (mode 160000) in the index makes the user's next `git status` run git inside that
directory, reading the config and hooks found there; the sandbox can make such a directory
(`git init sub`) and write in its config what git runs (core.fsmonitor, a filter, a hook). So
an index synced back from the sandbox (gitmeta.Shadow.sync) may hold no gitlink the repository
did not have: one in the real index, one in HEAD as the session began, or one whose git
directory lies in `.git/modules/` since then (those are read-only to the sandbox). Otherwise
the index is not synced and the command is told why.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# A gitlink's mode as the index stores it (32 bits, big-endian): no index without these bytes
# holds one, which spares running git on every index the sandbox writes.
GITLINK_MODE = (0o160000).to_bytes(4, "big")
GIT_TIMEOUT = 120.0


class Unreadable(Exception):
    """Git could not read an index (a torn or crafted one): it is not synced either."""


@dataclass
class Gitlinks:
    """The gitlinks a git directory's index may hold, as known when the session began."""

    git_dir: Path
    # HEAD as the session began (the sandbox can move it since), read only when needed.
    head: str
    modules: frozenset[str]
    _in_head: frozenset[str] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, git_dir: Path) -> "Gitlinks":
        try:
            head = _git(git_dir, "rev-parse", "-q", "--verify", "HEAD^{commit}").strip()
        except subprocess.CalledProcessError:  # no commit yet
            head = ""
        return cls(git_dir, head, frozenset(_module_names(git_dir)))

    def refused(self, new: bytes, real: bytes | None) -> str:
        """Why the index `new` may not replace `real` (the repository's), or "" when it may."""
        try:
            added = listed(self.git_dir, new)
        except Unreadable as e:
            return f"git cannot read the index the command wrote ({e}), so heron kept the index as it was"
        if added and real:
            with contextlib.suppress(Unreadable):  # then the repository's own index holds none
                added -= listed(self.git_dir, real)
        added -= self.modules
        if added:
            added -= self._head_gitlinks()
        if not added:
            return ""
        return (f"the index the command wrote registers {', '.join(sorted(added))} as a submodule (a gitlink) "
                "the repository did not have; git runs what a submodule's config says on the user's next "
                "`git status`, so heron kept the index as it was (no new submodules from the sandbox)")

    def _head_gitlinks(self) -> frozenset[str]:
        if self._in_head is None:
            out = _git(self.git_dir, "ls-tree", "-r", "-z", "--full-tree", self.head) if self.head else ""
            self._in_head = frozenset(line.split("\t", 1)[1] for line in out.split("\0")
                                      if line.startswith("160000 "))
        return self._in_head


def listed(git_dir: Path, index: bytes) -> set[str]:
    """The gitlink paths of an index's content."""
    if not _may_hold_gitlink(index):
        return set()
    with tempfile.NamedTemporaryFile(prefix="heron-index-") as f:
        f.write(index)
        f.flush()
        try:
            out = _git(git_dir, "ls-files", "--stage", "-z", index=f.name)
        except subprocess.CalledProcessError as e:
            raise Unreadable(e.stderr.strip() or f"git exited with {e.returncode}") from None
    return {entry.split("\t", 1)[1] for entry in out.split("\0") if entry.startswith("160000 ")}


def _may_hold_gitlink(index: bytes) -> bool:
    """Whether the index holds a gitlink's mode bytes; searched a megabyte at a time, since one
    search holds Python's lock throughout: over a 27 MB index, 20 ms the TUI's screen waited."""
    step = 1 << 20
    return any(index.find(GITLINK_MODE, at, at + step + len(GITLINK_MODE) - 1) >= 0
               for at in range(0, len(index), step))


def _module_names(git_dir: Path) -> list[str]:
    """The submodules with a git directory under .git/modules (git names them by path by default)."""
    common = git_dir
    try:
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    except OSError:
        pass
    modules = common / "modules"
    names = []
    for top, dirs, files in os.walk(modules):
        if "HEAD" in files:
            names.append(str(Path(top).relative_to(modules)))
            dirs.clear()  # a submodule's own submodules are under its modules/, not named by path
    return names


def git_env(**extra: str) -> dict[str, str]:
    """heron's environment without the GIT_ variables of whoever started it: git run to read a
    file reads that file (and `extra`), not a repository or config the environment names."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")}, **extra}


def _git(git_dir: Path, *args: str, index: str | None = None) -> str:
    env = git_env(GIT_INDEX_FILE=index) if index else git_env()
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=True,
                          errors="surrogateescape",
                          env=env, cwd=tempfile.gettempdir(), timeout=GIT_TIMEOUT).stdout
