"""Resource limits for the sandboxed shell: a cgroup for processes and memory, rlimits for the rest.

Root ignores RLIMIT_NPROC (and the sandbox's uid maps to root outside), so only a pids cgroup can
stop a fork bomb. One cgroup is made per shell, as a child of heron's own, under cgroup v1's
per-controller hierarchies or the v2 unified one; where none can be made the caller is told why.
"""

from __future__ import annotations

import os
import resource
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.sandbox.walk import walk

CGROUP_ROOT = Path("/sys/fs/cgroup")
# cgroup v1 and v2 name the memory limit differently; pids.max is the same in both.
LIMIT_FILES = {"pids": ("pids.max", "pids.max"), "memory": ("memory.limit_in_bytes", "memory.max")}


@dataclass(frozen=True)
class Limits:
    max_processes: int = 512
    max_memory_bytes: int = 8 << 30
    max_file_bytes: int = 4 << 30
    # What the shell may add to the workspace's disk in a session; None: half the free space.
    max_disk_bytes: int | None = None


@dataclass
class DiskBudget:
    """The session's disk budget for the workspace, and how much of it is left.

    Enforced three ways: before each command the shell's RLIMIT_FSIZE is lowered to what was left
    after the last one (the workspace is walked once after each command: walk.py), so no one file
    can pass it (the writer gets EFBIG / SIGXFSZ); fallocate is refused by seccomp
    (it claims gigabytes at once), and while a command runs the filesystem's free space is
    watched: when it drops by more than what was left, the workspace is measured, and a command
    over the budget is stopped. Writers in parallel can pass it by what the disk writes in one
    watch interval.
    """

    workspace: Path
    budget: int
    start: int

    @classmethod
    def create(cls, workspace: Path, budget: int | None, used: int) -> "DiskBudget":
        """`used`: the workspace's bytes now (walk.py)."""
        if budget is None:
            budget = free_bytes(workspace) // 2
        return cls(workspace, budget, used)

    def left(self, used: int | None = None) -> int:
        """What is left; `used`: the workspace's bytes if just walked, else it is walked now."""
        return self.budget - ((walk(self.workspace).used if used is None else used) - self.start)

    def describe(self) -> str:
        return f"{self.budget >> 20} MiB"


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


@dataclass
class CgroupSet:
    """The cgroup directories made for one shell; `problems` says which limits could not be set."""

    dirs: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, limits: Limits) -> "CgroupSet":
        made = cls()
        name = f"heron-{os.getpid()}-{secrets.token_hex(4)}"
        values = {"pids": limits.max_processes, "memory": limits.max_memory_bytes}
        for controller, value in values.items():
            try:
                parent, limit_file = _controller_dir(controller)
                path = parent / name
                if path not in made.dirs:
                    path.mkdir()
                    made.dirs.append(path)
                (path / limit_file).write_text(str(value))
            except OSError as e:
                made.problems.append(f"no {controller} limit: cannot make a cgroup ({e.strerror or e})")
        return made

    def forks_refused(self) -> int:
        """How many times a fork failed at the process limit (pids.events), 0 without a pids cgroup."""
        for path in self.dirs:
            events = path / "pids.events"
            if events.is_file():
                for line in events.read_text().splitlines():
                    if line.startswith("max "):
                        return int(line.split()[1])
        return 0

    def members(self) -> list[int]:
        """Every process in the cgroup, orphans included (they keep their cgroup when reparented)."""
        for path in self.dirs:
            try:
                return [int(pid) for pid in (path / "cgroup.procs").read_text().split()]
            except OSError:
                continue
        return []

    def join(self) -> None:
        """Move the calling process in; called in the child before it becomes bwrap."""
        for path in self.dirs:
            (path / "cgroup.procs").write_text("0")

    def remove(self) -> None:
        """Kill what is left inside and remove the directories."""
        for path in self.dirs:
            for _ in range(50):
                try:
                    pids = (path / "cgroup.procs").read_text().split()
                    for pid in pids:
                        _kill(int(pid))
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.01)


def _controller_dir(controller: str) -> tuple[Path, str]:
    """Heron's own cgroup in the hierarchy that holds `controller`, and its limit file's name."""
    v1_file, v2_file = LIMIT_FILES[controller]
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, where = line.split(":", 2)
        if controller in names.split(","):
            return CGROUP_ROOT / controller / where.lstrip("/"), v1_file
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            for mount in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
                parent = mount / line[3:].lstrip("/")
                enabled = (parent / "cgroup.subtree_control")
                if enabled.is_file() and controller in enabled.read_text().split():
                    return parent, v2_file
    raise OSError(0, f"the {controller} controller is not available to heron")


def set_rlimits(limits: Limits) -> None:
    """File size and core dumps; called in the child before it becomes bwrap."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
