"""A container per task (`fix --batch --container ENGINE --container-image TEMPLATE`), for its shell.

TEMPLATE names the task's image: `{id}` is the task id, `{instance}` the id as SWE-bench names
its instance images (lower case, `__` as `_1776_`), e.g.
`swebench/sweb.eval.x86_64.{instance}:latest`. The container mounts the task's worktree and the
mirror it belongs to at their own paths, idles until the task ends, and is removed then; should
the worker die first, the container stops on its own after the task's timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from agent.errors import UsageError

START_TIMEOUT = 600.0  # seconds to start a container, a pull of its image included


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
def task_container(engine: str, image: str, tree: Path, lifetime: float) -> Iterator[str]:
    """A running container of `image` for one task; yields its name, removes it afterwards."""
    name = f"heron-{uuid.uuid4().hex[:12]}"
    mirror = tree.parent.with_suffix(".git")
    argv = [engine, "run", "--detach", "--rm", "--name", name, "--network", "none",
            "--volume", f"{tree}:{tree}", "--volume", f"{mirror}:{mirror}", "--workdir", str(tree),
            "--entrypoint", "sleep", image, str(int(lifetime))]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise UsageError(f"{engine} did not start {image} in {START_TIMEOUT:g} s") from None
    if proc.returncode != 0:
        raise UsageError(f"{engine} could not start {image}: {proc.stderr.strip()[-500:]}")
    try:
        yield name
    finally:
        subprocess.run([engine, "rm", "--force", name], capture_output=True, timeout=START_TIMEOUT)
