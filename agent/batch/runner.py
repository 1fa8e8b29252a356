"""`heron fix --batch`: many issues against one server, each task isolated, the run resumable.

Each task runs as its own `heron fix --json` process in its own clone at its base commit, so a
crash or a hang ends that task only. Results are appended to RESULTS.jsonl as each task ends;
rerunning with the same file skips the ids already there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

import git
import openai

from agent.config import Config
from agent.errors import UsageError

SERVER_WAIT_LIMIT = 1800.0  # seconds a run waits for a server that went away before giving up
SERVER_ERROR_EXIT = 3


@dataclass(frozen=True)
class Task:
    id: str
    issue: str
    repo: str | None = None
    base_commit: str | None = None
    test_cmd: str | None = None


@dataclass
class TaskResult:
    id: str
    status: str  # fixed | tests-failed | gave-up | error
    patch: str
    steps: int
    tokens_in: int
    tokens_out: int
    cached_tokens: int
    wall_time: float
    transcript: str
    error: str = ""


def load_tasks(path: Path) -> list[Task]:
    """Read TASKS.jsonl; a bad line is a usage error naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UsageError(f"cannot read the task file {path}: {e.strerror}") from None
    tasks, seen = [], set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            task = Task(id=str(data["id"]), issue=str(data.get("issue") or data.get("problem_statement") or ""),
                        repo=data.get("repo"), base_commit=data.get("base_commit"), test_cmd=data.get("test_cmd"))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
            raise UsageError(f"{path}:{number}: not a task line ({type(e).__name__}: {e}); "
                             'each line needs {"id": ..., "issue": ...}') from None
        if not task.issue.strip():
            raise UsageError(f"{path}:{number}: task {task.id} has no issue text")
        if task.id in seen:
            raise UsageError(f"{path}:{number}: task id {task.id} appears twice")
        seen.add(task.id)
        tasks.append(task)
    return tasks


def finished_ids(out: Path) -> set[str]:
    """Ids already in RESULTS.jsonl; a line cut by a kill is ignored (that task runs again)."""
    if not out.exists():
        return set()
    ids = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return ids


def drop_cut_line(out: Path) -> None:
    """A kill mid-write leaves a last line without its newline: cut it off before appending."""
    if not out.exists():
        return
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        out.write_bytes(data[: data.rfind(b"\n") + 1])


class Progress:
    """done/running/failed, tokens/s across workers and an ETA, on one stderr line."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.out = total, out
        self.done = self.running = self.failed = self.tokens = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.live = out.isatty()

    def update(self, **change: int) -> None:
        with self.lock:
            for key, delta in change.items():
                setattr(self, key, getattr(self, key) + delta)
            # Not a terminal (a log file): a line per finished task, not per change.
            if self.live or "done" in change:
                self._show()

    def say(self, message: str) -> None:
        with self.lock:
            self.out.write(("\r\x1b[K" if self.live else "") + message + "\n")
            if self.live:
                self._show()

    def _show(self) -> None:
        elapsed = time.monotonic() - self.started
        rate = self.tokens / elapsed if elapsed else 0.0
        eta = ""
        if self.done:
            left = (self.total - self.done) * elapsed / self.done
            eta = f" | ETA {int(left // 60)}m{int(left % 60):02d}s"
        line = (f"[{self.done}/{self.total} done | {self.running} running | {self.failed} failed | "
                f"{rate:.0f} tok/s{eta}]")
        self.out.write("\r\x1b[K" + line if self.live else line + "\n")
        self.out.flush()


class BatchRun:
    def __init__(self, config: Config, base_url: str, model: str, tasks: list[Task], out: Path,
                 workers: int, task_timeout: float, default_repo: Path, work_dir: Path,
                 swebench: bool, stderr: TextIO = sys.stderr) -> None:
        self.config, self.base_url, self.model = config, base_url, model
        self.tasks, self.out, self.workers = tasks, out, workers
        self.task_timeout, self.default_repo, self.work_dir = task_timeout, default_repo, work_dir
        self.swebench = swebench
        self.write_lock = threading.Lock()
        self.server_ok = threading.Event()
        self.server_ok.set()
        self.progress = Progress(0, stderr)

    def run(self) -> list[TaskResult]:
        drop_cut_line(self.out)
        done = finished_ids(self.out)
        todo = [t for t in self.tasks if t.id not in done]
        if done:
            self.progress.say(f"resuming: {len(done)} tasks already in {self.out}, {len(todo)} to run")
        self.progress = Progress(len(todo), self.progress.out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(self._run_guarded, todo))
        if self.progress.live:
            self.progress.out.write("\n")
        return results

    def _run_guarded(self, task: Task) -> TaskResult:
        self.progress.update(running=1)
        started = time.monotonic()
        try:
            result = self._run_task(task)
        except Exception as e:  # one task's failure never stops the batch
            result = TaskResult(task.id, "error", "", 0, 0, 0, 0, time.monotonic() - started, "",
                                error=f"{type(e).__name__}: {e}")
        self._record(result)
        self.progress.update(running=-1, done=1, failed=int(result.status == "error"),
                             tokens=result.tokens_out)
        return result

    def _run_task(self, task: Task) -> TaskResult:
        checkout = self._checkout(task)
        transcript = self.work_dir / f"{_safe(task.id)}.jsonl"
        started = time.monotonic()
        for attempt in range(3):
            self.server_ok.wait()
            code, error = self._heron_fix(task, checkout, transcript)
            if code != SERVER_ERROR_EXIT or self._server_alive():
                break
            self._wait_for_server(attempt)
        stats = _transcript_stats(transcript)
        status = _status(code, task.test_cmd or self.config.test_cmd)
        patch = _patch(checkout, task.base_commit)
        return TaskResult(task.id, status, patch, stats["steps"], stats["tokens_in"], stats["tokens_out"],
                          stats["cached"], round(time.monotonic() - started, 3), str(transcript),
                          error=error if status == "error" else "")

    def _heron_fix(self, task: Task, checkout: Path, transcript: Path) -> tuple[int, str]:
        argv = [sys.executable, "-m", "agent", "fix", "-", "--repo", str(checkout), "--json", "--yes",
                "--base-url", self.base_url, "--model", self.model, "--max-steps", str(self.config.max_steps)]
        test_cmd = task.test_cmd or self.config.test_cmd
        if test_cmd:
            argv += ["--test-cmd", test_cmd, "--retries", str(self.config.retries)]
        with open(transcript, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.PIPE,
                                    text=True, env=_child_env(), start_new_session=True)
            try:
                _, err = proc.communicate(task.issue, timeout=self.task_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.communicate()
                return -1, f"timed out after {self.task_timeout:g} s (--task-timeout)"
        return proc.returncode, err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"

    def _checkout(self, task: Task) -> Path:
        """A fresh clone of the task's repository at its base commit (shared objects: fast)."""
        source = task.repo or str(self.default_repo)
        target = self.work_dir / _safe(task.id) / "repo"
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        local = Path(source).expanduser()
        args = ["--shared"] if local.exists() else []
        try:
            repo = git.Repo.clone_from(str(local) if local.exists() else source, target, multi_options=args,
                                       no_checkout=True)
            repo.git.checkout("--detach", task.base_commit or "HEAD")
        except git.GitCommandError as e:
            raise RuntimeError(f"cannot check out {source} at {task.base_commit or 'HEAD'}: "
                               f"{e.stderr.strip()}") from None
        return target

    def _server_alive(self) -> bool:
        client = openai.OpenAI(base_url=self.base_url, api_key=self.config.api_key, max_retries=0, timeout=5)
        try:
            client.models.list()
            return True
        except openai.APIError:
            return False

    def _wait_for_server(self, attempt: int) -> None:
        """Pause every worker until the server answers again, with backoff."""
        if not self.server_ok.is_set():
            self.server_ok.wait()
            return
        self.server_ok.clear()
        self.progress.say(f"the model server at {self.base_url} is not answering; workers paused")
        waited, delay = 0.0, 1.0
        while not self._server_alive():
            if waited > SERVER_WAIT_LIMIT:
                self.progress.say("the server did not come back; remaining tasks will fail")
                break
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 30.0)
        else:
            self.progress.say("the model server is back; workers resume")
        self.server_ok.set()

    def _record(self, result: TaskResult) -> None:
        with self.write_lock:
            with open(self.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
            if self.swebench:
                with open(predictions_path(self.out), "a", encoding="utf-8") as f:
                    f.write(json.dumps({"instance_id": result.id, "model_name_or_path": f"heron+{self.model}",
                                        "model_patch": result.patch}) + "\n")


def predictions_path(out: Path) -> Path:
    return out.with_name(out.stem + ".predictions.jsonl")


def _status(code: int, test_cmd: str | None) -> str:
    if code == 0:
        return "fixed"
    if code == 1:
        return "tests-failed" if test_cmd else "gave-up"
    return "error"


def _transcript_stats(path: Path) -> dict[str, int]:
    stats = {"steps": 0, "tokens_in": 0, "tokens_out": 0, "cached": 0}
    if not path.exists():
        return stats
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("type") == "assistant_turn":
            stats["steps"] += 1
        elif event.get("type") == "usage":
            stats["tokens_in"] += event.get("prompt_tokens") or 0
            stats["tokens_out"] += event.get("completion_tokens") or 0
            stats["cached"] += event.get("cached_tokens") or 0
    return stats


def _patch(checkout: Path, base_commit: str | None) -> str:
    """Everything the task changed against its base commit, new files included."""
    repo = git.Repo(checkout)
    repo.git.add("-A")  # the clone is the batch's own: staging in it touches nothing of the user's
    return repo.git.diff("--cached", base_commit or "HEAD", "--binary") + "\n" if repo.is_dirty(untracked_files=True) else ""


def _safe(task_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in task_id)


def _child_env() -> dict[str, str]:
    # The child runs this same code, from wherever this process imported it.
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


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
              task_timeout: float, swebench: bool) -> int:
    """The batch front-end: exit 0 when every task ran (whatever its status), 1 when any errored."""
    from agent.model.endpoint import find_endpoint

    if workers < 1:
        raise UsageError("--workers must be at least 1")
    tasks = load_tasks(tasks_file)
    out = out or tasks_file.with_name(tasks_file.stem + ".results.jsonl")
    if config.base_url and config.model:
        base_url, model = config.base_url, config.model  # the server may come up later: workers wait
    else:
        endpoint = find_endpoint(config)  # found once; every task's child uses the same server
        base_url, model = endpoint.base_url, endpoint.model
    run = BatchRun(config, base_url, model, tasks, out, workers, task_timeout, repo.resolve(),
                   work_dir=out.with_name(out.stem + ".work"), swebench=swebench)
    results = run.run()
    print(summary_table(results))
    print(f"results: {out}" + (f"\npredictions: {predictions_path(out)}" if swebench else ""))
    return 1 if any(r.status == "error" for r in results) else 0
