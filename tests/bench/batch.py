"""Benchmark: `heron fix --batch` throughput against a slow scripted server, 1, 4 and 16 workers.

    python tests/bench/batch.py [--tasks 16] [--delay 0.025]

The server streams every reply one token per `--delay` seconds, so each task's model time is
known. Printed: wall time per worker count, the ideal wall time if heron cost nothing (model time
of the tasks each worker runs in turn), their ratio, and the median of heron's own time per task
(a task's wall time minus its model time: process start, clone, tools, bookkeeping).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import EXAMPLES, HERON, heron_env, make_repo  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, stream_chunks  # noqa: E402

WORDS_PER_REPLY = 40
CHUNK_SIZE = 3  # characters per streamed chunk: about a token


def task_script(delay: float) -> list[Reply]:
    talk = "looking at the stock ledger " * (WORDS_PER_REPLY // 5)
    return [
        Reply(text=talk, tool_calls=[call("read_file", path="inventory/stock.py")], chunk_delay=delay),
        Reply(text=talk, tool_calls=[call("finish", summary="done")], chunk_delay=delay),
    ]


def model_seconds(delay: float, chunk_size: int) -> float:
    """The server sleeps `delay` after each chunk it streams: count them the way it makes them."""
    return sum(len(stream_chunks(r, "fake-model", chunk_size, True)) for r in task_script(delay)) * delay


def run(workers: int, tasks: int, delay: float, home: Path, work: Path) -> tuple[float, list[float]]:
    repo = work / f"repo-{workers}"
    make_repo(repo, source=EXAMPLES / "inventory")
    server = FakeOpenAIServer(chunk_size=CHUNK_SIZE).start()
    lines = []
    for i in range(tasks):
        server.script_for(f"task-{i:03d}", *task_script(delay))
        lines.append(json.dumps({"id": f"t{i}", "issue": f"task-{i:03d}: check the ledger"}))
    task_file = work / f"tasks-{workers}.jsonl"
    task_file.write_text("\n".join(lines) + "\n")
    out = work / f"results-{workers}.jsonl"
    started = time.perf_counter()
    proc = subprocess.run([str(HERON), "fix", "--batch", str(task_file), "--out", str(out), "--repo", str(repo),
                           "--workers", str(workers), "--base-url", server.base_url, "--model", "fake-model"],
                          env=heron_env(home), capture_output=True, text=True)
    wall = time.perf_counter() - started
    server.stop()
    if proc.returncode != 0:
        raise SystemExit(f"batch failed:\n{proc.stderr[-2000:]}")
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["status"] == "fixed" for r in results), results
    return wall, [r["wall_time"] for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds per streamed token")
    args = parser.parse_args()
    per_task = model_seconds(args.delay, CHUNK_SIZE)
    print(f"{args.tasks} tasks, {per_task:.2f} s of model time each ({args.delay * 1000:.0f} ms/token), "
          f"{os.cpu_count()} cores")
    print(f"{'workers':>7} {'wall s':>8} {'ideal s':>8} {'wall/ideal':>10} {'tasks/min':>9} {'heron s/task (median)':>22}")
    work = Path(tempfile.mkdtemp(prefix="heron-bench-batch-"))
    try:
        home = work / "home"
        home.mkdir()
        for workers in (1, 4, 16):
            wall, task_walls = run(workers, args.tasks, args.delay, home, work)
            ideal = math.ceil(args.tasks / workers) * per_task
            own = statistics.median(w - per_task for w in task_walls)
            print(f"{workers:>7} {wall:>8.1f} {ideal:>8.1f} {wall / ideal:>10.2f} "
                  f"{args.tasks / wall * 60:>9.1f} {own:>22.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
