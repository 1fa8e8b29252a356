"""`heron fix --batch --ray`: each task a Ray task on an existing cluster (the `heron[ray]` extra).

A task declares one CPU and TASK_MEMORY, runs `worker.execute` in one of the cluster's worker
processes (heron must be installed on every node, and each task's repository must be reachable
there: a URL, or a path on shared storage), and streams its event lines to an inbox actor pinned
to the driver's node, which the driver drains into transcripts and the progress line. Results stay
on the driver. Ray runs a task again when its worker or node dies (MAX_RETRIES); a new attempt
says so by its attempt id, and its transcript starts over. Ctrl-C cancels every task still on the
cluster, its worker processes killed, before the driver leaves.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any, Callable

from agent.batch.worker import Outcome, TaskSpec, execute
from agent.errors import UsageError

TASK_MEMORY = 512 * 1024 * 1024  # bytes a task declares; a worker measured ~200 MB at its peak
MAX_RETRIES = 3  # Ray's own retries after a worker or node died (not after heron's own errors)
FLUSH_SECONDS = 0.25  # how often a task ships the event lines it has gathered


class Inbox:
    """The event lines of every running task, until the driver takes them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, list[str]]] = []

    def push(self, task_id: str, attempt: str, lines: list[str]) -> None:
        self.items.append((task_id, attempt, lines))

    def take(self) -> list[tuple[str, str, list[str]]]:
        items, self.items = self.items, []
        return items


def run_on_node(spec: TaskSpec, inbox: Any) -> Outcome:
    """The body of a Ray task: execute the task here, shipping its events in small batches."""
    import ray

    attempt, pending, lock, finished = uuid.uuid4().hex, [], threading.Lock(), threading.Event()

    def ship() -> None:
        with lock:
            lines = pending[:]
            pending.clear()
        inbox.push.remote(spec.task.id, attempt, lines)  # also announces the attempt when empty

    def flusher() -> None:
        while not finished.wait(FLUSH_SECONDS):
            ship()

    def send(line: str) -> None:
        with lock:
            pending.append(line)

    ship()
    thread = threading.Thread(target=flusher, daemon=True)
    thread.start()
    try:
        outcome = execute(spec, send)
    finally:
        finished.set()
        thread.join()
        ship()
    outcome.node = ray.get_runtime_context().get_node_id()
    return outcome


class RayPool:
    def __init__(self, address: str) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--ray needs Ray: pip install 'heron[ray]'") from None
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray = ray
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False,
                     runtime_env={"env_vars": _forwarded_env()})
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UsageError(f"cannot reach a Ray cluster at {address!r}: {e}; start one with "
                             "`ray start --head`, or give its address (host:port)") from None
        here = ray.get_runtime_context().get_node_id()
        self.inbox = ray.remote(num_cpus=0)(Inbox).options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()
        self.remote = ray.remote(num_cpus=1, memory=TASK_MEMORY, max_retries=MAX_RETRIES,
                                 retry_exceptions=False)(run_on_node)
        self.routes: dict[str, tuple[Callable[[str], None], Callable[[], None], list[str]]] = {}
        self.running: set[Any] = set()
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.poller = threading.Thread(target=self._poll, daemon=True)
        self.poller.start()

    def execute(self, spec: TaskSpec, on_line: Callable[[str], None], timeout: float,
                on_restart: Callable[[], None] = lambda: None) -> Outcome:
        ray = self.ray
        with self.lock:
            self.routes[spec.task.id] = (on_line, on_restart, [])
            ref = self.remote.remote(spec, self.inbox)
            self.running.add(ref)
        try:
            outcome = ray.get(ref, timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            ray.cancel(ref, force=True)
            outcome = Outcome(-1, f"timed out after {timeout:g} s (--task-timeout)")
        except ray.exceptions.TaskCancelledError:
            outcome = Outcome(130, "interrupted")
        except ray.exceptions.RayError as e:  # its node died more often than Ray retries
            outcome = Outcome(-1, f"the task failed on the cluster: {type(e).__name__}: {str(e)[:500]}")
        self._drain()  # the task's last lines, shipped before it returned
        with self.lock:
            self.running.discard(ref)
            self.routes.pop(spec.task.id, None)
        return outcome

    def close(self) -> None:
        """Cancels what still runs on the cluster and waits until it has stopped."""
        with self.lock:
            running = list(self.running)
        for ref in running:
            self.ray.cancel(ref, force=True, recursive=True)
        deadline = time.monotonic() + 30
        while running and time.monotonic() < deadline:
            _, running = self.ray.wait(running, num_returns=len(running), timeout=1)
        self.closed.set()
        self.poller.join()
        self.ray.shutdown()

    def _poll(self) -> None:
        while not self.closed.wait(FLUSH_SECONDS):
            self._drain()

    def _drain(self) -> None:
        with self.lock:  # one drainer at a time, so each task's lines stay in order
            try:
                items = self.ray.get(self.inbox.take.remote())
            except self.ray.exceptions.RayError:
                return
            for task_id, attempt, lines in items:
                route = self.routes.get(task_id)
                if route is None:
                    continue
                on_line, on_restart, attempts = route
                if attempt not in attempts:
                    if attempts:
                        on_restart()
                    attempts.append(attempt)
                if attempts[-1] == attempt:  # a dead attempt's last words are dropped
                    for line in lines:
                        on_line(line)


def _forwarded_env() -> dict[str, str]:
    """What a task needs from the driver's environment on every node (heron's own settings)."""
    return {k: v for k, v in os.environ.items() if k.startswith("HERON_")}
