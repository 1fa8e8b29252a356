"""Benchmark: `heron fix --batch` throughput and heron's own cost, locally and on a Ray cluster.

    python tests/bench/batch.py [--workers 1,4,16,64] [--delay 0.025] [--rounds 2] [--no-ray]

A scripted server streams every reply one token per `--delay` seconds (25 ms: ~40 tokens/s, a
27B model on one GPU), and answers any number of requests at once, so a task's model time is
known and the server is never the bottleneck. Each worker count runs `--rounds` tasks per worker,
after a warm-up batch has filled the mirror, every slot and the repo-map cache. Printed per row:
wall time; the ideal (model time of the tasks each worker runs in turn); their ratio (1.00: bound
by the server, not by heron); tasks per hour; heron's CPU per task, all of it (driver and worker
processes, start-up included, counted in a cpuacct cgroup, so as root; on Ray with the cluster's
own daemons) and in the worker for the task itself (median); the peak memory of a worker process. The Ray rows run on a
two-node local cluster (tests/ray_cluster.py) with as many logical CPUs as the largest count.
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
CPUACCT = Path("/sys/fs/cgroup/cpuacct")


def task_script(delay: float) -> list[Reply]:
    talk = "looking at the stock ledger " * (WORDS_PER_REPLY // 5)
    return [
        Reply(text=talk, tool_calls=[call("read_file", path="inventory/stock.py")], chunk_delay=delay),
        Reply(text=talk, tool_calls=[call("finish", summary="done")], chunk_delay=delay),
    ]


def model_seconds(delay: float) -> float:
    """The server sleeps `delay` after each chunk it streams: count them the way it makes them."""
    return sum(len(stream_chunks(r, "fake-model", CHUNK_SIZE, True)) for r in task_script(delay)) * delay


class CpuMeter:
    """CPU seconds of a process tree, whatever forks it: a cgroup-v1 cpuacct group (root only)."""

    def __init__(self, name: str) -> None:
        self.path = CPUACCT / f"heron-bench-{os.getpid()}-{name}"
        self.path.mkdir(exist_ok=True)

    def enter(self) -> None:  # in the child, before exec: it and all it starts are counted
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def seconds(self) -> float:
        return int((self.path / "cpuacct.usage").read_text()) / 1e9

    @staticmethod
    def available() -> bool:
        return os.access(CPUACCT, os.W_OK)


def run(name: str, workers: int, tasks: int, delay: float, repo: Path, home: Path, work: Path,
        ray: str | None, cluster_cpu: CpuMeter | None = None) -> dict[str, float]:
    server = FakeOpenAIServer(chunk_size=CHUNK_SIZE).start()
    lines = []
    for i in range(tasks):
        server.script_for(f"task-{name}-{i:03d}", *task_script(delay))
        lines.append(json.dumps({"id": f"{name}-{i}", "issue": f"task-{name}-{i:03d}: check the ledger"}))
    task_file = work / f"tasks-{name}.jsonl"
    task_file.write_text("\n".join(lines) + "\n")
    out = work / f"results-{name}.jsonl"
    argv = [str(HERON), "fix", "--batch", str(task_file), "--out", str(out), "--repo", str(repo),
            "--workers", str(workers), "--base-url", server.base_url, "--model", "fake-model"]
    meter = CpuMeter(name) if CpuMeter.available() else None
    cluster_before = cluster_cpu.seconds() if cluster_cpu else 0.0
    started = time.perf_counter()
    proc = subprocess.run(argv + (["--ray", ray] if ray else []), env=heron_env(home), capture_output=True, text=True,
                          preexec_fn=meter.enter if meter else None)
    wall = time.perf_counter() - started
    cpu = (meter.seconds() if meter else math.nan) + (cluster_cpu.seconds() - cluster_before if cluster_cpu else 0.0)
    server.stop()
    if proc.returncode != 0:
        raise SystemExit(f"batch failed:\n{proc.stderr[-2000:]}")
    results = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [r["error"] for r in results if r["status"] != "fixed"]
    if errors:
        raise SystemExit(f"{len(errors)} of {tasks} tasks failed ({name}), e.g.: {errors[:3]}")
    return {"wall": wall, "cpu": cpu / tasks, "task_cpu": statistics.median(r["cpu_seconds"] for r in results),
            "peak": max(r["peak_mb"] for r in results)}


def header(title: str) -> None:
    print(f"\n{title}")
    print(f"{'workers':>7} {'tasks':>5} {'wall s':>7} {'ideal s':>7} {'wall/ideal':>10} {'tasks/hour':>10} "
          f"{'CPU s/task':>10} {'in worker':>9} {'peak MB/worker':>14}", flush=True)


def row(workers: int, tasks: int, m: dict[str, float], per_task: float) -> None:
    ideal = math.ceil(tasks / workers) * per_task
    all_cpu = "-" if math.isnan(m["cpu"]) else f"{m['cpu']:.2f}"
    print(f"{workers:>7} {tasks:>5} {m['wall']:>7.1f} {ideal:>7.1f} {m['wall'] / ideal:>10.2f} "
          f"{tasks / m['wall'] * 3600:>10.0f} {all_cpu:>10} {m['task_cpu']:>9.3f} {m['peak']:>14.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", default="1,4,16,64", help="comma-separated worker counts")
    parser.add_argument("--delay", type=float, default=0.025, help="seconds per streamed token")
    parser.add_argument("--rounds", type=int, default=3, help="tasks per worker at each count")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray cluster rows")
    parser.add_argument("--no-local", action="store_true", help="skip the local pool rows")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    per_task = model_seconds(args.delay)
    print(f"{per_task:.2f} s of model time per task ({args.delay * 1000:.0f} ms/token), {os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="heron-bench-batch-"))
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")  # the bench's own mirror, slots and caches
    try:
        home = work / "home"
        home.mkdir()
        repo = work / "inventory"
        make_repo(repo, source=EXAMPLES / "inventory")
        top = max(counts)
        if not args.no_local:
            run("warm", top, top, args.delay, repo, home, work, None)  # every slot made, every cache full
            header("local pool (worker processes on this machine)")
            for n in counts:
                row(n, n * args.rounds, run(f"local{n}", n, n * args.rounds, args.delay, repo, home, work, None),
                    per_task)
        if not args.no_ray:
            from tests.ray_cluster import Cluster

            cluster_cpu = CpuMeter("cluster") if CpuMeter.available() else None
            with Cluster(cpus=(top + 1) // 2, enter=cluster_cpu.enter if cluster_cpu else None) as cluster:
                run("raywarm", top, top, args.delay, repo, home, work, cluster.address)
                header("Ray: two-node local cluster (CPU includes Ray's own daemons)")
                for n in counts:
                    row(n, n * args.rounds, run(f"ray{n}", n, n * args.rounds, args.delay, repo, home, work,
                                                cluster.address, cluster_cpu), per_task)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
