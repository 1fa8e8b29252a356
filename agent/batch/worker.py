"""One task, run inside a long-lived worker process: a slot of shared sources, `heron fix`, a patch.

The local pool keeps one such process per worker (`serve`, forked with heron already imported);
on Ray, the cluster's own worker processes call `execute`. Either way heron's imports are not
paid per task. Events leave as the JSON lines `heron fix
--json` writes, through `send`, so the driver shows progress and keeps the transcript.
"""

from __future__ import annotations

import io
import json
import os
import resource
import socket
import subprocess
import sys
from contextlib import ExitStack, redirect_stdout
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable

from agent.batch.containers import task_container
from agent.batch.sources import Sources
from agent.batch.tasks import Task
from agent.config import load_config
from agent.errors import HeronError
from agent.events import Warning as WarningEvent

OUTCOME = "batch_outcome"  # the type of the last line a local worker writes for a task
SKIPPED = ('{"type": "text_delta"', '{"type": "reasoning_delta"')  # too many to ship; not recorded


@dataclass(frozen=True)
class TaskSpec:
    task: Task
    source: str  # the task's repository, or the batch's --repo
    flags: dict[str, Any] = field(default_factory=dict)  # Config keys: base_url, model, test_cmd…
    engine: str = ""  # docker or podman: the shell runs in a container of `image` (containers.py)
    image: str = ""
    timeout: float = 3600.0  # the task's --task-timeout; its container lives a little longer


@dataclass
class Outcome:
    exit_code: int  # heron fix's: 0 fixed, 1 not fixed, 3 server, 130 interrupted; -1 heron broke
    error: str = ""
    patch: str = ""
    node: str = ""
    cpu_seconds: float = 0.0  # heron's own CPU for the task: this process and the git it ran
    peak_mb: float = 0.0  # the worker process's peak resident memory so far


class LineSink(io.TextIOBase):
    """A text stream that hands each complete line to `send` (what JsonlSink writes to)."""

    def __init__(self, send: Callable[[str], None]) -> None:
        self.send, self.pending = send, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if line and not line.startswith(SKIPPED):
                self.send(line)
        return len(text)


def execute(spec: TaskSpec, send: Callable[[str], None], sources: Sources | None = None) -> Outcome:
    """Run one task in this process; heron's own expected failures come back in the Outcome."""
    import agent.batch.warm  # noqa: F401  (once per worker process: not part of any task's cost)

    started = _cpu()
    outcome = _execute(spec, send, sources)
    outcome.cpu_seconds = round(_cpu() - started, 3)
    outcome.peak_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return outcome


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _execute(spec: TaskSpec, send: Callable[[str], None], sources: Sources | None) -> Outcome:
    from agent.fix import run_fix

    try:
        slot = (sources or Sources()).checkout(spec.source, spec.task.base_commit)
    except Exception as e:  # SourceError, or git itself missing
        return Outcome(-1, f"cannot check out {spec.source} at {spec.task.base_commit or 'HEAD'}: {e}",
                       node=socket.gethostname())
    try:
        try:
            with ExitStack() as stack:
                sandbox = None
                if spec.engine:
                    sandbox = stack.enter_context(task_container(spec.engine, spec.image, slot.tree, spec.timeout + 60,
                                                                 lambda why: send(json.dumps(WarningEvent(why).to_json()))))
                config = load_config(slot.tree, spec.flags)
                with redirect_stdout(LineSink(send)):
                    code, error = run_fix(config, slot.tree, spec.task.issue, json_output=True, yes=True,
                                          sandbox=sandbox), ""
        except HeronError as e:
            code, error = e.exit_code, str(e)
        except KeyboardInterrupt:
            code, error = 130, "interrupted"
        return Outcome(code, error, _patch(slot.tree, slot.commit), socket.gethostname())
    finally:
        slot.release()


def _patch(tree: Path, base: str) -> str:
    """Everything the task changed against its base commit, new files included."""
    subprocess.run(["git", "add", "-A"], cwd=tree, capture_output=True)  # the slot is the batch's own
    diff = subprocess.run(["git", "diff", "--cached", "--binary", base], cwd=tree, capture_output=True,
                          text=True, errors="replace").stdout
    return diff if diff.endswith("\n") or not diff else diff + "\n"


def serve(tasks: Connection, lines: Connection, log: str) -> None:
    """A local worker: a TaskSpec per message on `tasks`; event lines, then the outcome, on `lines`."""
    os.setsid()  # a process group of its own: the pool kills it and all it started as one
    with open(log, "ab") as err:
        os.dup2(err.fileno(), 2)
    os.dup2(2, 1)  # nothing but `lines` talks to the driver
    sys.stdout = sys.stderr

    def send(line: str) -> None:
        lines.send_bytes(line.encode())

    sources = Sources()
    send("ready")
    while True:
        try:
            data = json.loads(tasks.recv_bytes())
        except EOFError:  # the driver is gone
            return
        spec = TaskSpec(Task(**data.pop("task")), **data)
        try:
            outcome = execute(spec, send, sources)
        except Exception as e:  # a bug of heron's: that task fails, the worker goes on
            outcome = Outcome(-1, f"{type(e).__name__}: {e}", node=socket.gethostname())
        send(json.dumps({"type": OUTCOME, **asdict(outcome)}))
