"""`heron fix --batch`: many issues against one or many servers, locally or on Ray, resumable.

The driver (this module) reads the tasks, sends each to a server (endpoints.py) and a pool
(local.py: worker processes on this machine; on_ray.py: a Ray cluster), writes each task's
transcript as its events arrive, and appends to RESULTS.jsonl as each task ends; rerunning with
the same file skips the ids already there.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, TextIO

from agent.batch.containers import check_engine, image_name
from agent.batch.endpoints import Endpoints
from agent.batch.progress import Progress, TaskLog
from agent.batch.tasks import ResultsFile, Task, TaskResult, load_tasks, write_predictions
from agent.batch.worker import Outcome, TaskSpec
from agent.config import Config
from agent.errors import Interrupted, UsageError

SERVER_ERROR_EXIT = 3
ATTEMPTS = 3  # a task whose server failed is tried again, on a server that answers


class Pool(Protocol):
    """Where tasks run: worker processes here, or Ray tasks on a cluster."""

    def execute(self, spec: TaskSpec, on_line: Callable[[str], None], timeout: float,
                on_restart: Callable[[], None] = lambda: None) -> Outcome: ...

    def close(self) -> None: ...


@dataclass
class BatchOptions:
    workers: int
    task_timeout: float
    default_repo: Path
    work_dir: Path
    engine: str = ""  # --container: each task's shell in a container of --container-image
    image: str = ""


class BatchRun:
    def __init__(self, config: Config, endpoints: Endpoints, model: str, pool: Pool, options: BatchOptions,
                 progress: Progress) -> None:
        self.config, self.endpoints, self.model, self.pool = config, endpoints, model, pool
        self.options, self.progress = options, progress
        self.write_lock = threading.Lock()
        self.stopping = False

    def run(self, tasks: list[Task], results: ResultsFile) -> list[TaskResult]:
        self.options.work_dir.mkdir(parents=True, exist_ok=True)
        threads = ThreadPoolExecutor(max_workers=self.options.workers)
        try:
            futures = [threads.submit(self._run_guarded, task, results) for task in tasks]
            return [f.result() for f in futures]
        except KeyboardInterrupt:
            self.stopping = True  # the tasks cut short are not recorded: a rerun does them
            self.endpoints.close()
            self.progress.say(f"interrupted: stopping {self.progress.running} running tasks")
            raise Interrupted("interrupted; run the same command again to go on where it stopped") from None
        finally:
            self.pool.close()
            threads.shutdown(wait=True, cancel_futures=True)
            self.progress.end()

    def _run_guarded(self, task: Task, results: ResultsFile) -> TaskResult:
        self.progress.update(running=1)
        started = time.monotonic()
        try:
            result = self._run_task(task)
        except Exception as e:  # one task's failure never stops the batch
            result = TaskResult(task.id, "error", "", 0, 0, 0, 0, round(time.monotonic() - started, 3), "",
                                error=f"{type(e).__name__}: {e}")
        if self.stopping:
            return result
        with self.write_lock:
            results.append(result)
        self.progress.update(running=-1, done=1, failed=int(result.status == "error"))
        return result

    def _run_task(self, task: Task) -> TaskResult:
        transcript = self.options.work_dir / f"{_safe(task.id)}.jsonl"
        test_cmd = task.test_cmd or self.config.test_cmd
        started = time.monotonic()
        for _ in range(ATTEMPTS):
            url = self.endpoints.acquire(task.id)
            log = TaskLog(transcript, on_tokens=lambda n, url=url: self._count(url, n))
            try:
                outcome = self.pool.execute(self._spec(task, url, test_cmd), log.line, self.options.task_timeout,
                                            on_restart=lambda task_id=task.id, log=log: self._restarted(task_id, log))
            finally:
                self.endpoints.release(url)
                log.close()
            if outcome.exit_code != SERVER_ERROR_EXIT or self.stopping or self.endpoints.alive(url):
                break
            self.endpoints.drain(url)
        status = _status(outcome.exit_code, test_cmd)
        return TaskResult(task.id, status, outcome.patch, log.steps, log.tokens_in, log.tokens_out, log.cached,
                          round(time.monotonic() - started, 3), str(transcript),
                          error=outcome.error if status == "error" else "", endpoint=url, node=outcome.node,
                          cpu_seconds=outcome.cpu_seconds, peak_mb=outcome.peak_mb)

    def _spec(self, task: Task, url: str, test_cmd: str | None) -> TaskSpec:
        flags = {"base_url": url, "model": self.model, "api_key": self.config.api_key,
                 "max_steps": self.config.max_steps, "retries": self.config.retries,
                 "sandbox": self.config.sandbox, "test_cmd": test_cmd}
        options = self.options
        return TaskSpec(task, task.repo or str(options.default_repo), {k: v for k, v in flags.items() if v is not None},
                        options.engine, image_name(options.image, task.id) if options.engine else "",
                        options.task_timeout)

    def _count(self, url: str, tokens: int) -> None:
        self.endpoints.count(url, tokens)
        self.progress.update(tokens=tokens)

    def _restarted(self, task_id: str, log: TaskLog) -> None:
        log.restart()
        self.progress.say(f"task {task_id} started over: its worker or node died")


def _status(code: int, test_cmd: str | None) -> str:
    if code == 0:
        return "fixed"
    if code == 1:
        return "tests-failed" if test_cmd else "gave-up"
    return "error"


def _safe(task_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in task_id)


def summary_table(results: list[TaskResult]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    rows = [f"{'id':<30} {'status':<13} {'steps':>5} {'tok in':>9} {'tok out':>8} {'time':>8}"]
    rows += [f"{r.id[:30]:<30} {r.status:<13} {r.steps:>5} {r.tokens_in:>9} {r.tokens_out:>8} {r.wall_time:>7.1f}s"
             for r in results]
    rows.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no tasks run")
    return "\n".join(rows)


def run_batch(config: Config, repo: Path, tasks_file: Path, out: Path | None, workers: int,
              task_timeout: float, swebench: bool, ray: str | None = None, container: str | None = None,
              image: str | None = None, stderr: TextIO = sys.stderr) -> int:
    """The batch front-end: exit 0 when every task ran (whatever its status), 1 when any errored."""
    from agent.core.build import connect

    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if bool(container) != bool(image):
        raise UsageError("--container and --container-image go together: "
                         "--container podman --container-image 'NAME:{id}'")
    tasks = load_tasks(tasks_file)
    if container:
        image_name(image or "", tasks[0].id if tasks else "x")  # a bad template fails before any task
        if ray is None:
            check_engine(container)  # on Ray, each node's engine is checked by its tasks
    results = ResultsFile(out or tasks_file.with_name(tasks_file.stem + ".results.jsonl"))
    urls = list(config.base_urls) or ([config.base_url] if config.base_url else [])
    if urls and config.model:
        model = config.model  # a server may come up later: workers wait for it
    else:
        endpoint = connect(config.replace(base_url=urls[0] if urls else None), lambda event: None).endpoint  # found once
        urls, model = urls or [endpoint.base_url], endpoint.model
    progress = Progress(0, stderr)
    results.drop_cut_line()
    done = {r["id"] for r in results.finished()}
    todo = [t for t in tasks if t.id not in done]
    if done:
        progress.say(f"resuming: {len(done)} tasks already in {results.path}, {len(todo)} to run")
    endpoints = Endpoints(urls, config.api_key, progress.say)
    progress = Progress(len(todo), stderr, detail=endpoints.status if len(urls) > 1 else lambda: "")
    endpoints.say = progress.say
    results.path.parent.mkdir(parents=True, exist_ok=True)
    work_dir = results.path.with_name(results.path.stem + ".work")
    work_dir.mkdir(parents=True, exist_ok=True)
    pool: Pool
    if ray is not None:
        from agent.batch.on_ray import RayPool

        pool = RayPool(ray)
    else:
        from agent.batch.local import LocalPool

        pool = LocalPool(work_dir)
    options = BatchOptions(workers, task_timeout, repo.resolve(), work_dir, container or "", image or "")
    run = BatchRun(config, endpoints, model, pool, options, progress)
    finished = run.run(todo, results)
    print(summary_table(finished))
    print(f"results: {results.path}" + (f"\npredictions: {write_predictions(results, model)}" if swebench else ""))
    return 1 if any(r.status == "error" for r in finished) else 0

