"""A container per task (`fix --batch --container ENGINE --container-image TEMPLATE`), for its shell.

TEMPLATE names the task's image: `{id}` is the task id, `{instance}` the id as SWE-bench names
its instance images (lower case, `__` as `_1776_`), e.g.
`swebench/sweb.eval.x86_64.{instance}:latest`. The container mounts the task's worktree, with its
git guarded as in the other sandbox tiers (agent/sandbox/container.py), idles until the task ends,
and is removed then; should the worker die first, the container stops on its own after the task's
timeout.
"""

from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from agent.errors import UsageError
from agent.sandbox.container import ContainerSandbox, start_container


def image_name(template: str, task_id: str) -> str:
    try:
        return template.format(id=task_id, instance=task_id.lower().replace("__", "_1776_"))
    except (KeyError, IndexError, ValueError) as e:
        raise UsageError(f"--container-image {template!r}: {e}; the template may use {{id}} and {{instance}}") from None


def check_engine(engine: str) -> None:
    """Fails early, in one line, when the engine cannot run containers on this machine."""
    if shutil.which(engine) is None:
        raise UsageError(f"--container {engine}: {engine} is not installed on this machine")
    try:
        proc = subprocess.run([engine, "info"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise UsageError(f"--container {engine}: `{engine} info` did not answer in 60 s") from None
    if proc.returncode != 0:
        reason = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise UsageError(f"--container {engine}: {engine} cannot run containers here: "
                         f"{reason[-1] if reason else f'exit {proc.returncode}'}")


@contextmanager
def task_container(engine: str, image: str, tree: Path, lifetime: float,
                   warn: Callable[[str], None]) -> Iterator[ContainerSandbox]:
    """A running container of `image` for one task, as the sandbox of its shell; removed
    afterwards, and what its stand-ins' last sync refused told to `warn`."""
    sandbox = start_container(engine, image, tree, lifetime)
    try:
        yield sandbox
    finally:
        for why in sandbox.close():
            warn(why)
