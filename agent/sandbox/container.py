"""The container tier: the shell runs inside a running Docker or Podman container.

`fix --batch --container ENGINE --container-image TEMPLATE` starts one container per task
(`start_container`, called by agent/batch/containers.py) and hands its sandbox to the task's
session. The container mounts the task's worktree at its own path and, over it, what the other
tiers bind (protect.py): each git directory's stand-in (gitmeta.py: git's data writable, its
instructions read-only, the files ordinary git work writes copied and synced back by heron before
and after each command), the .git file, the git directories that were there, and what host tools
run from a workspace, read-only. The repository's shared mirror is reached only through its
stand-in: the container cannot write its hooks or config, which heron's own git on the host and
the batch's later tasks would obey.

The shell joins the container (namespaces.py) as a child of heron like any other shell, so the
shell tool, its interrupts and its timeouts work unchanged; what it runs sees the container's
filesystem, network and processes, with the image's PATH, as root with the capabilities of the
container's own processes, so it can undo none of the container's mounts. It is not in the
container's cgroup, so it has no CAP_MKNOD either: the cgroup's device rules are what keep a
device node made in a container from reaching the host's disks.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from agent.errors import UsageError
from agent.sandbox import namespaces
from agent.sandbox.bubblewrap import Launch
from agent.sandbox.capabilities import CAP_MKNOD, bounding_set
from agent.sandbox.limits import Limits
from agent.sandbox.nested import NestedGit
from agent.sandbox.protect import Bind, Protection
from agent.sandbox.walk import walk

START_TIMEOUT = 600.0  # seconds to start a container, a pull of its image included
INSPECT_TIMEOUT = 60.0
# The command as the image's PATH finds it inside: a path found on the host may not be there.
TRAMPOLINE = ["/bin/sh", "-c", 'exec "$0" "$@"']


@dataclass(frozen=True)
class ContainerSandbox:
    workspace: Path
    engine: str
    container: str
    pid: int  # the container's first process, whose namespaces the shell joins
    protection: Protection  # what the container binds over the workspace, synced by heron
    capabilities: int  # the shell's at most: the container's own, but CAP_MKNOD
    image_env: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)  # only the disk budget: no cgroup of heron's is made

    def launch(self, command: list[str], env: Mapping[str, str], kept: Sequence[Path] = ()) -> Launch:
        """`command` in the container; `kept` was bound read-only when the container started.
        Each shell's last sync is its cleanup; the stand-ins go with the container (`close`)."""
        inside = {**env, **{k: self.image_env[k] for k in ("PATH", "HOME") if k in self.image_env}}
        return Launch([*TRAMPOLINE, *command], inside, lambda: namespaces.join(self.pid, self.workspace, self.capabilities),
                      cleanup=self.protection.settle, settle=self.protection.settle)

    def close(self) -> list[str]:
        """Remove the container, then the stand-ins; what their last sync refused (written by
        processes the shell left behind)."""
        try:
            _remove(self.engine, self.container)
        finally:
            refused = self.protection.close()
        return refused


def start_container(engine: str, image: str, workspace: Path, lifetime: float) -> ContainerSandbox:
    """A running container of `image` with `workspace` protected in it, idle for `lifetime`
    seconds at most (should heron die first); its sandbox, whose `close` removes it."""
    workspace = workspace.resolve()
    kept = NestedGit.record(workspace, walk(workspace).git).kept
    protection = Protection.create(workspace)
    name = f"heron-{uuid.uuid4().hex[:12]}"
    try:
        _run(engine, image, name, [Bind(workspace, workspace, writable=True), *protection.binds(kept)], lifetime)
        pid, image_env, kept_capabilities = _inspect(engine, name)
    except BaseException:
        try:
            _remove(engine, name)
        finally:
            protection.close()
        raise
    return ContainerSandbox(workspace, engine, name, pid, protection, kept_capabilities, image_env)


def _run(engine: str, image: str, name: str, binds: Sequence[Bind], lifetime: float) -> None:
    """Start the container with `binds` mounted; both engines mount them parents first (by the
    depth of the target), as the stand-ins need."""
    argv = [engine, "run", "--detach", "--rm", "--name", name, "--network", "none"]
    for bind in binds:
        if any(c in str(path) for path in (bind.source, bind.dest) for c in ",\n"):
            raise UsageError(f"{bind.dest}: {engine} --mount cannot be given a path with a comma or a new line")
        argv += ["--mount", f"type=bind,source={bind.source},target={bind.dest}" + ("" if bind.writable else ",readonly")]
    argv += ["--workdir", str(binds[0].dest), "--entrypoint", "sleep", image, str(int(lifetime))]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise UsageError(f"{engine} did not start {image} in {START_TIMEOUT:g} s") from None
    if proc.returncode != 0:
        raise UsageError(f"{engine} could not start {image}: {proc.stderr.strip()[-500:]}")


def _inspect(engine: str, name: str) -> tuple[int, dict[str, str], int]:
    """The running container's first process, its image's environment, and the capabilities the
    shell may keep: its processes' own but CAP_MKNOD (the shell is not in its cgroup)."""
    try:
        proc = subprocess.run([engine, "inspect", "--type", "container", name], capture_output=True,
                              text=True, timeout=INSPECT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise UsageError(f"`{engine} inspect {name}` did not answer in {INSPECT_TIMEOUT:g} s") from None
    if proc.returncode != 0:
        raise UsageError(f"{engine} knows no container {name}: {proc.stderr.strip()}")
    state = json.loads(proc.stdout)[0]
    pid = state.get("State", {}).get("Pid") or 0
    try:
        capabilities = bounding_set(pid) & ~(1 << CAP_MKNOD)
    except OSError:
        raise UsageError(f"{engine} container {name} stopped as soon as it started") from None
    env = dict(item.split("=", 1) for item in (state.get("Config", {}).get("Env") or []) if "=" in item)
    return pid, env, capabilities


def _remove(engine: str, name: str) -> None:
    subprocess.run([engine, "rm", "--force", name], capture_output=True, timeout=START_TIMEOUT)
