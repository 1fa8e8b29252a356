"""The batch's files: TASKS.jsonl in, RESULTS.jsonl (resumable) and SWE-bench predictions out."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.errors import UsageError


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
    endpoint: str = ""
    node: str = ""  # the machine the task ran on (its hostname, or its Ray node id)
    cpu_seconds: float = 0.0  # heron's own CPU for the task in its worker (not the model's time)
    peak_mb: float = 0.0  # its worker process's peak memory


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
            task = Task(id=str(data.get("id") or data["instance_id"]),
                        issue=str(data.get("issue") or data.get("problem_statement") or ""),
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


class ResultsFile:
    """RESULTS.jsonl: one line per finished task, fsynced, so a killed run resumes where it was."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def finished(self) -> list[dict]:
        """The results already there; a line cut by a kill is ignored (that task runs again)."""
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                row["id"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            found.append(row)
        return found

    def drop_cut_line(self) -> None:
        """A kill mid-write leaves a last line without its newline: cut it off before appending."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def append(self, result: TaskResult) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(result), ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())


def predictions_path(out: Path) -> Path:
    return out.with_name(out.stem + ".predictions.jsonl")


def write_predictions(results: ResultsFile, model: str) -> Path:
    """Every result in the file, resumed runs included, as the SWE-bench harness reads predictions.

    `python -m swebench.harness.run_evaluation --predictions_path P` loads a .jsonl of objects with
    instance_id, model_name_or_path and model_patch (swebench.harness.utils.get_predictions_from_file).
    Rewritten whole, through a temporary file, so it never holds half a run or a duplicate id.
    """
    path = predictions_path(results.path)
    rows = {r["id"]: {"instance_id": r["id"], "model_name_or_path": f"heron+{model}",
                      "model_patch": r.get("patch") or ""} for r in results.finished()}
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows.values()),
                       encoding="utf-8")
    partial.replace(path)
    return path
