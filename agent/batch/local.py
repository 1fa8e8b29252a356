"""The local pool: one long-lived worker process per worker thread, replaced when it hangs or dies."""

from __future__ import annotations

import json
import os
import queue
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from agent.batch.worker import OUTCOME, Outcome, TaskSpec


class WorkerProcess:
    def __init__(self, log: Path) -> None:
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent.batch.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, env=_child_env(), start_new_session=True)  # its own group: killed as one
        self.buffer = b""

    def run(self, spec: TaskSpec, on_line: Callable[[str], None], timeout: float) -> Outcome | None:
        """The task's outcome; None when it ran past `timeout` (the caller then kills this worker)."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write((json.dumps(asdict(spec)) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in self.buffer:
                    raw, self.buffer = self.buffer.split(b"\n", 1)
                    line = raw.decode("utf-8", errors="replace")
                    if line.startswith(f'{{"type": "{OUTCOME}"'):
                        data = json.loads(line)
                        data.pop("type")
                        return Outcome(**data)
                    on_line(line)
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not chunk:
                    return Outcome(-1, f"the worker process died (exit {self.proc.wait()}): {self._last_words()}")
                self.buffer += chunk

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def _last_words(self) -> str:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return lines[-1] if lines else "no message"


class LocalPool:
    """Runs TaskSpecs in worker processes on this machine; a process serves one task at a time."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.idle: queue.SimpleQueue[WorkerProcess] = queue.SimpleQueue()
        self.busy: set[WorkerProcess] = set()
        self.started = 0
        self.closed = False

    def execute(self, spec: TaskSpec, on_line: Callable[[str], None], timeout: float,
                on_restart: Callable[[], None] = lambda: None) -> Outcome:
        worker = self._take()
        outcome = worker.run(spec, on_line, timeout)
        self.busy.discard(worker)
        if outcome is None or worker.proc.poll() is not None:
            worker.kill()
            return outcome or Outcome(-1, f"timed out after {timeout:g} s (--task-timeout)")
        self.idle.put(worker)
        return outcome

    def close(self) -> None:
        """Ends every worker process, idle or busy (on Ctrl-C, the busy ones' tasks stop here)."""
        self.closed = True
        for worker in list(self.busy):
            worker.kill()
        while not self.idle.empty():
            self.idle.get().kill()

    def _take(self) -> WorkerProcess:
        if self.closed:
            raise RuntimeError("the batch is stopping")
        try:
            worker = self.idle.get_nowait()
        except queue.Empty:
            self.started += 1
            worker = WorkerProcess(self.log_dir / f"worker-{self.started}.log")
        self.busy.add(worker)
        return worker


def _child_env() -> dict[str, str]:
    # The child runs this same code, from wherever this process imported it.
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
