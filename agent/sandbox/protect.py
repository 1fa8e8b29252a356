"""What the sandbox tiers mount over the writable workspace, so that what runs code outside the
sandbox stays out of its reach whether it exists yet or not.

As plain data (`Bind`): each git directory's stand-in (gitmeta.py) with git's data bound
writable and everything else read-only in it; a linked worktree's .git file, the git
directories that were there before the session (nested.py) and what host tools run from a
workspace (workspace.HOST_EXECUTED), read-only; and for the names of those tools run from any
workspace (ALWAYS_PLACED) that are missing, an empty read-only stand-in, so they cannot be made.
bubblewrap is told them as arguments; the Landlock tier mounts them itself (`mount`); the
container tier has Podman or Docker mount them as the container starts (container.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from agent.sandbox import mounts
from agent.sandbox.gitmeta import BOUND, Shadow, git_dirs, synced
from agent.sandbox.workspace import HOST_EXECUTED

# Of HOST_EXECUTED, what tools run from any workspace: made read-only even when missing (as an
# empty directory for the session, removed after). The rc files matter in a home directory only.
ALWAYS_PLACED = (".envrc", ".vscode", ".idea")


@dataclass(frozen=True)
class Bind:
    """`source` shown at `dest`, read-only unless `writable`."""

    source: Path
    dest: Path
    writable: bool = False


@dataclass(frozen=True)
class Protection:
    """The host side of the binds: the git directories' stand-ins, the empty directory shown for
    missing names, and the mount points made for them, removed after."""

    workspace: Path
    shadows: tuple[Shadow, ...]
    empty: Path
    placed: tuple[Path, ...]

    @classmethod
    def create(cls, workspace: Path) -> "Protection":
        shadows = tuple(Shadow.create(d) for d in git_dirs(workspace))
        for shadow in shadows:
            _mount_points(shadow)
        placed = tuple(workspace / n for n in ALWAYS_PLACED if not os.path.lexists(workspace / n))
        for path in placed:
            path.mkdir()
        made = cls(workspace, shadows, Path(tempfile.mkdtemp(prefix="heron-empty-")), placed)
        made._own()
        return made

    def binds(self, kept: Sequence[Path] = ()) -> list[Bind]:
        """In the order they must be made: a stand-in before what is bound into it."""
        ws = self.workspace
        binds = [Bind(ws / ".git", ws / ".git")] if (ws / ".git").is_file() else []
        for shadow in self.shadows:
            binds.append(Bind(shadow.copy, shadow.real, writable=True))
            binds += [Bind(entry, entry, writable=entry.name in BOUND) for entry in _bound_entries(shadow)]
        binds += [Bind(path, path) for path in kept]
        for name in HOST_EXECUTED:
            path = ws / name
            if path in self.placed:
                binds.append(Bind(self.empty, path))
            elif os.path.lexists(path):
                binds.append(Bind(path, path))
        return binds

    def settle(self) -> list[str]:
        """Sync the stand-ins both ways (before and after each command); what was refused."""
        refused = [why for shadow in self.shadows for why in shadow.sync()]
        self._own()
        return refused

    def _own(self) -> None:
        """As root, give what heron made for the sandbox to the workspace's owner: the sandbox's
        user is that owner seen through an idmapped mount (identity.py), where a file of any
        other owner, root's included, is nobody's to write or even pass."""
        if os.geteuid() != 0:
            return
        owner = self.workspace.stat()
        for top in [self.empty, *(s.copy for s in self.shadows)]:
            for folder, dirs, files in os.walk(top):
                for name in [".", *dirs, *files]:
                    os.lchown(os.path.join(folder, name), owner.st_uid, owner.st_gid)

    def close(self) -> list[str]:
        refused = [why for shadow in self.shadows for why in shadow.close()]
        for path in self.placed:
            with contextlib.suppress(OSError):  # only the empty directory the mount left
                path.rmdir()
        shutil.rmtree(self.empty, ignore_errors=True)
        return refused


def mount(binds: Sequence[Bind]) -> None:
    """In a child with a mount namespace of its own, as root, before exec: make the binds.

    Every source is cloned before any bind is attached, since a stand-in covers its real
    directory. A read-only bind is made read-only before it is attached; the flag is locked to
    any later mount namespace, and the shell, with no capability and under Landlock (which
    refuses every mount call), cannot unmount or remount it.
    """
    trees = [(mounts.clone(bind.source), bind) for bind in binds]
    for tree, bind in trees:
        if not bind.writable:
            mounts.set_attributes(tree, mounts.MOUNT_ATTR_RDONLY, what=f"read-only {bind.dest}")
        mounts.attach(tree, bind.dest)


def _bound_entries(shadow: Shadow) -> list[Path]:
    """The real directory's entries shown in its stand-in (all but the synced copies)."""
    return [e for e in sorted(shadow.real.iterdir()) if not synced(e.name) and e.exists()]


def _mount_points(shadow: Shadow) -> None:
    """Where the real entries are bound in the stand-in: an empty entry of the same kind."""
    for entry in _bound_entries(shadow):
        point = shadow.copy / entry.name
        if entry.is_dir():
            point.mkdir(exist_ok=True)
        else:
            point.touch()
