"""Which sandbox the shell gets: bubblewrap, else Landlock and seccomp, else none (with a warning)."""

from __future__ import annotations

import os
from pathlib import Path

from agent.errors import UsageError
from agent.sandbox.bubblewrap import Sandbox, ShellSandbox, bwrap_problem
from agent.sandbox.landlock_tier import LandlockSandbox, landlock_problem
from agent.sandbox.limits import CgroupSet, Limits


def choose_sandbox(mode: str, workspace: Path, network: bool,
                   disk_budget_mb: int | None = None) -> tuple[ShellSandbox | None, str | None]:
    """The sandbox for a Config.sandbox mode, and a warning for the user when it is weak or none.

    bubblewrap first; where it cannot run (no user namespaces, inside Docker), Landlock and
    seccomp. `require` (or `landlock`) without a working tier is a configuration error.
    """
    if mode == "off":
        return None, "the shell runs WITHOUT a sandbox (sandbox = off): every command will ask first"
    # With a budget, no one file may be larger than all of it (the hard limit the shell keeps).
    limits = Limits() if disk_budget_mb is None else \
        Limits(max_disk_bytes=disk_budget_mb << 20, max_file_bytes=min(Limits.max_file_bytes, disk_budget_mb << 20))
    bwrap = Sandbox(workspace.resolve(), network=network, limits=limits)
    problem = "sandbox = landlock" if mode == "landlock" else bwrap_problem(bwrap)
    if problem is None:
        return bwrap, _limit_problems(bwrap)
    landlock_missing = landlock_problem()
    if landlock_missing is None:
        landlock = LandlockSandbox(workspace.resolve(), network=network, limits=limits)
        weaker = ("the shell runs under Landlock, the second sandbox tier: it sees other processes "
                  "(but cannot signal them), cannot read the home or /tmp (TMPDIR is its own)" + (
                      "" if landlock.as_nobody else
                      ", cannot create entries directly in the workspace root, and cannot run git commands "
                      "that write (without a mount namespace, Landlock cannot protect .git otherwise)"))
        as_root = None if landlock.as_nobody or os.geteuid() != 0 else (
            "running as root without idmapped mounts, the shell is root without capabilities: root-only "
            "files other than the hidden ones stay readable")
        reason = "" if mode == "landlock" else f"{problem}, so "
        return landlock, "; ".join(filter(None, [reason + weaker, as_root, _limit_problems(landlock)]))
    if mode in ("require", "landlock"):
        raise UsageError(f"sandbox = {mode}, but {problem} and {landlock_missing}; install bubblewrap "
                         "or set --sandbox auto")
    return None, (f"the shell runs WITHOUT a sandbox: {problem}, and {landlock_missing}; every "
                  "command will ask first")


def _limit_problems(sandbox: ShellSandbox) -> str | None:
    probe = CgroupSet.create(sandbox.limits)
    probe.remove()
    return "; ".join(f"the sandbox has {p}" for p in probe.problems) or None
