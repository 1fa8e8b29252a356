"""The container tier: the shell runs inside a running Docker or Podman container.

`fix --batch --container ENGINE --container-image TEMPLATE` starts one container per task (agent/batch/
containers.py) with the task's worktree mounted at the same path, and sets `sandbox` to
"ENGINE:CONTAINER". The shell then joins that container (namespaces.py) as a child of heron like
any other shell, so the shell tool, its interrupts and its timeouts work unchanged; what it runs
sees the container's filesystem, network and processes, with the image's PATH, as root with the
capabilities of the container's own processes. It is not in the container's cgroup, so it has no
CAP_MKNOD either: the cgroup's device rules are what keep a device node made in a container from
reaching the host's disks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from agent.errors import UsageError
from agent.sandbox import namespaces
from agent.sandbox.bubblewrap import Launch
from agent.sandbox.capabilities import CAP_MKNOD, bounding_set
from agent.sandbox.limits import Limits

INSPECT_TIMEOUT = 60.0
# The command as the image's PATH finds it inside: a path found on the host may not be there.
TRAMPOLINE = ["/bin/sh", "-c", 'exec "$0" "$@"']


@dataclass(frozen=True)
class ContainerSandbox:
    workspace: Path
    engine: str
    container: str
    pid: int  # the container's first process, whose namespaces the shell joins
    capabilities: int  # the shell's at most: the container's own, but CAP_MKNOD
    image_env: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)  # only the disk budget: the container sets the rest

    def launch(self, command: list[str], env: Mapping[str, str], kept: Sequence[Path] = ()) -> Launch:
        """`command` in the container; `kept` is not made read-only: the container guards nothing
        of the workspace's git (the task's worktree is the batch's own)."""
        inside = {**env, **{k: self.image_env[k] for k in ("PATH", "HOME") if k in self.image_env}}
        return Launch([*TRAMPOLINE, *command], inside,
                      lambda: namespaces.join(self.pid, self.workspace, self.capabilities))


def container_sandbox(mode: str, workspace: Path) -> ContainerSandbox:
    """The sandbox for `sandbox = "ENGINE:CONTAINER"`; a clear error when it is not running."""
    engine, container = mode.split(":", 1)
    if shutil.which(engine) is None:
        raise UsageError(f"sandbox = {mode}: {engine} is not installed")
    try:
        proc = subprocess.run([engine, "inspect", "--type", "container", container], capture_output=True,
                              text=True, timeout=INSPECT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise UsageError(f"sandbox = {mode}: `{engine} inspect` did not answer in {INSPECT_TIMEOUT:g} s") from None
    if proc.returncode != 0:
        raise UsageError(f"sandbox = {mode}: {engine} knows no such container: {proc.stderr.strip()}")
    state = json.loads(proc.stdout)[0]
    pid = state.get("State", {}).get("Pid") or 0
    if not pid:
        raise UsageError(f"sandbox = {mode}: the container is not running")
    image_env = dict(item.split("=", 1) for item in (state.get("Config", {}).get("Env") or []) if "=" in item)
    return ContainerSandbox(workspace.resolve(), engine, container, pid, bounding_set(pid) & ~(1 << CAP_MKNOD), image_env)
