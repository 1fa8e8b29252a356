"""An unprivileged identity for the sandbox when heron runs as root, with the workspace still its own.

Mapping the sandbox's user to the host's root lets it read whatever only root may read
(/etc/shadow, any mode-0600 root file), whatever is hidden or not. So as root the sandbox runs as
the host's `nobody` instead: nothing only root may read is readable, by construction. The
workspace (and the few other trees the sandbox must write or reach: a linked worktree's
repository, heron's stand-in for .git, toolchains under a private home) is shown through an
idmapped mount that presents its owner as `nobody`: the shell can write it, and what it creates
belongs on disk to the workspace's owner. The mounts are made in the child's own mount
namespace, at a staging directory bwrap binds from; the host never sees them.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.sandbox import mounts

NOBODY = 65534
_CLONE_NEWNS, _CLONE_NEWUSER = 0x20000, 0x10000000
_MS_REC, _MS_PRIVATE = 0x4000, 0x40000


@dataclass(frozen=True)
class Identity:
    """Host trees shown idmapped under `stage` (the i-th root at stage/i), or over themselves
    when `stage` is None, and the user namespace that maps their owner to `nobody`."""

    roots: tuple[Path, ...]
    stage: Path | None
    # A helper process holding the user namespace, opened by the child (which closes inherited
    # descriptors), and the pipe whose closing lets it exit.
    holder: int
    release: int

    @classmethod
    def create(cls, owner: tuple[int, int], roots: list[Path], in_place: bool = False) -> "Identity":
        """Staged for bwrap to bind from; `in_place` (the Landlock tier) mounts each root over
        itself, so the roots are given parents first."""
        if in_place:
            return cls(tuple(roots), None, *_owner_as_nobody(*owner))
        stage = Path(tempfile.mkdtemp(prefix="heron-stage-"))
        stage.chmod(0o755)  # bwrap, as nobody, must reach the mount points
        for i in range(len(roots)):
            (stage / str(i)).mkdir()
        return cls(tuple(roots), stage, *_owner_as_nobody(*owner))

    def view(self, path: Path) -> str:
        """Where bwrap finds `path`: inside the staged root that holds it, else where it is."""
        best = max((r for r in self.roots if r == path or r in path.parents), key=lambda r: len(r.parts), default=None)
        if best is None or self.stage is None:
            return str(path)
        return str(self.stage / str(self.roots.index(best)) / path.relative_to(best))

    def enter(self) -> None:
        """In the child, as root, before exec: mount the roots, then become nobody."""
        self.mount()
        self.become()

    def mount(self) -> None:
        """In the child, as root: a mount namespace of its own, with the roots idmapped."""
        libc = ctypes.CDLL(None, use_errno=True)
        mounts.check(libc.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        mounts.check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount --make-rprivate /")
        userns = os.open(f"/proc/{self.holder}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
        for i, root in enumerate(self.roots):
            tree = mounts.clone(root)
            mounts.set_attributes(tree, mounts.MOUNT_ATTR_IDMAP, userns, f"idmapping {root}")
            mounts.attach(tree, self.stage / str(i) if self.stage else root)
        os.close(userns)
        os.chdir(os.getcwd())  # the working directory, reached again through the new mounts

    def become(self) -> None:
        """Drop root for nobody, for good."""
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)

    def close(self) -> None:
        os.close(self.release)
        os.waitpid(self.holder, 0)
        if self.stage:
            shutil.rmtree(self.stage, ignore_errors=True)


def closed_to_others(path: Path) -> list[Path]:
    """The ancestors of `path` that nobody could not pass (no search right for others), parents
    first: shown idmapped too, so the path itself can be reached."""
    closed = []
    for parent in reversed(path.parents):
        try:
            if not parent.stat().st_mode & 0o001:
                closed.append(parent)
        except OSError:
            continue
    return closed


def idmap_problem() -> str | None:
    """Why the unprivileged identity cannot be made here (no idmapped mounts), or None."""
    probe_root = Path(tempfile.mkdtemp(prefix="heron-idmap-probe-"))
    try:
        identity = Identity.create((os.geteuid(), os.getegid()), [probe_root])
    except OSError as e:
        shutil.rmtree(probe_root, ignore_errors=True)
        return f"no user namespace for an unprivileged identity ({e.strerror or e})"
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child only reports by its exit status
            try:
                identity.enter()
                os._exit(0 if os.access(identity.view(probe_root), os.W_OK) else 1)
            except BaseException:
                os._exit(2)
        status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        return None if status == 0 else "the kernel cannot make idmapped mounts here"
    finally:
        identity.close()
        shutil.rmtree(probe_root, ignore_errors=True)


def _owner_as_nobody(uid: int, gid: int) -> tuple[int, int]:
    """A helper process in a user namespace mapping `uid`/`gid` (the workspace's owner) to
    nobody, and the pipe end whose closing ends it."""
    libc = ctypes.CDLL(None, use_errno=True)
    ready, go = os.pipe(), os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - a helper that only holds the namespace open
        try:
            # Forked without exec, the helper would keep every descriptor heron has open, and with
            # them the locks they hold (a turn's tree lock would outlive the turn): keep two pipes.
            low, high = sorted((ready[1], go[0]))
            os.closerange(3, low)
            os.closerange(low + 1, high)
            os.closerange(high + 1, os.sysconf("SC_OPEN_MAX"))
            ok = libc.unshare(_CLONE_NEWUSER) == 0
            os.write(ready[1], b"1" if ok else b"0")
            os.read(go[0], 1)
        finally:
            os._exit(0)
    os.close(ready[1])
    os.close(go[0])
    try:
        if os.read(ready[0], 1) != b"1":
            raise OSError(1, "cannot make a user namespace")
        Path(f"/proc/{pid}/uid_map").write_text(f"{uid} {NOBODY} 1\n")
        Path(f"/proc/{pid}/setgroups").write_text("deny")
        Path(f"/proc/{pid}/gid_map").write_text(f"{gid} {NOBODY} 1\n")
    except OSError:
        os.close(go[1])
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(ready[0])
    os.set_inheritable(go[1], False)
    return pid, go[1]

