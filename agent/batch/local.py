"""The local pool: one long-lived worker process per worker thread, replaced when it hangs or dies.

Workers are forked from a server process that has imported heron once (multiprocessing's
forkserver), so a new worker costs milliseconds rather than a second of imports.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from agent.batch.worker import OUTCOME, Outcome, TaskSpec, serve

START_TIMEOUT = 300.0
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["agent.batch.worker", "agent.batch.warm"])


class WorkerProcess:
    def __init__(self, log: Path) -> None:
        self.log = log
        tasks_end, self.tasks = CONTEXT.Pipe(duplex=False)
        self.lines, lines_end = CONTEXT.Pipe(duplex=False)
        self.proc = CONTEXT.Process(target=serve, args=(tasks_end, lines_end, str(log)), name="heron-batch-worker")
        self.proc.start()
        tasks_end.close()
        lines_end.close()
        # Ready before its first task's clock starts: a busy machine may take a while to fork it.
        if not self.lines.poll(START_TIMEOUT):
            self.kill()
            raise RuntimeError(f"a worker process did not start in {START_TIMEOUT:g} s: see {log}")
        self.lines.recv_bytes()

    def run(self, spec: TaskSpec, on_line: Callable[[str], None], timeout: float) -> Outcome | None:
        """The task's outcome; None when it ran past `timeout` (the caller then kills this worker)."""
        self.tasks.send_bytes(json.dumps(asdict(spec)).encode())
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.lines.poll(left):
                return None
            try:
                line = self.lines.recv_bytes().decode("utf-8", errors="replace")
            except (EOFError, OSError):
                self.proc.join()
                return Outcome(-1, f"the worker process died (exit {self.proc.exitcode}): {self._last_words()}")
            if line.startswith(f'{{"type": "{OUTCOME}"'):
                data = json.loads(line)
                data.pop("type")
                return Outcome(**data)
            on_line(line)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the worker leads its own process group
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        self.proc.join()
        self.tasks.close()
        self.lines.close()

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
        if outcome is None or not worker.proc.is_alive():
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

