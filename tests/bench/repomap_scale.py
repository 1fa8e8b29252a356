"""Benchmark: the repo map of a tree of over 100,000 source files (bigtree.py), beside aider-chat.

Run `python tests/bench/repomap_scale.py [--runs N] [--one-core] [--aider-timeout S]`. Whole
processes of heron as installed in its own venv (see benchdata.heron_python), the cache emptied
before each cold run:
- cold: the first map with every core, and with --one-core in one process too;
- warm start: a new process over a full cache;
- a new process after one file changed (the index saved by the last one is patched);
- inside a process that has made its first map: a turn with nothing changed, a turn after editing
  one file, after `git checkout` of a branch touching about 1,000 files, and back;
- peak memory (main process and the largest worker);
- the whole window: the time to render a 262,144-token map and what its tiers hold.
Aider's RepoMap runs the same first map cold, stopped after --aider-timeout seconds (default 900).
Targets: warm start < 1 s, a turn after one edit < 0.1 s, peak memory < 1 GB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.bench.benchdata import WORK, aider_python, heron_python  # noqa: E402
from tests.bench.bigtree import CHECKOUT, build  # noqa: E402
from tests.bench.edit_turn import edited  # noqa: E402
from tests.bench.repomap import TIERS, full_window, heron_env, timed  # noqa: E402

TASK = "QuerySet.bulk_create() ignores batch_size when update_conflicts=True is passed"
EDITED = "django/5.2/django/db/models/query.py"
CACHE = WORK / "heron-cache-scale"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--one-core", action="store_true", help="also a cold map in one process")
    parser.add_argument("--aider-timeout", type=float, default=900, help="seconds; 0: no aider run")
    args = parser.parse_args()
    tree = build()
    python = heron_python()
    env = heron_env(python, CACHE)
    side = [str(python), str(HERE / "heron_side.py")]
    figures: dict[str, list[float]] = {}

    def note(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)
        print(f"  {name}: {value:.3f}", flush=True)  # as they come: a cold run takes minutes

    for _ in range(args.runs):
        shutil.rmtree(CACHE / "heron" / "repomap", ignore_errors=True)
        elapsed, turns = timed([*side, "scale", str(tree), "65536", TASK, EDITED, CHECKOUT], env)
        note("cold, every core (s)", elapsed)
        note("files mapped", turns["files"])
        for key in ("nothing", "edit", "edit_undone", "checkout", "checkout_back"):
            note(f"turn: {key.replace('_', ' ')} (s)", turns[key])
        note("peak MB, main process", turns["peak_mb"])
        note("peak MB, a worker", turns["worker_peak_mb"])
        note("warm start (s)", timed([*side, "map", str(tree), "65536", TASK], env)[0])
        with edited(tree / EDITED):
            elapsed, last = timed([*side, "map", str(tree), "65536", TASK], env)
        note("new process, one file changed (s)", elapsed)
        note("new process, one changed back (s)", timed([*side, "map", str(tree), "65536", TASK], env)[0])
        window = full_window(side, tree, TASK, env)
        note("262K map: first render, warm (s)", window["first"])
        note("262K map: next render (s)", window["next"])
        for tier in TIERS:
            note(f"262K map: files {tier}", window[tier])
        if args.one_core:
            shutil.rmtree(CACHE / "heron" / "repomap", ignore_errors=True)
            note("cold, one process (s)", timed([*side, "map", str(tree), "65536", TASK],
                                                dict(env, BENCH_WORKERS="1"))[0])
    print(f"{tree}: medians of {args.runs} runs on {os.cpu_count()} cores")
    for name, values in figures.items():
        print(f"{name:40} {statistics.median(values):>12.3f}   " + ", ".join(f"{v:.3f}" for v in values))
    if args.aider_timeout:
        aider(tree, args.aider_timeout)


def aider(tree: Path, timeout: float) -> None:
    (tree / ".aider.tags.cache.v4").exists() and shutil.rmtree(tree / ".aider.tags.cache.v4")
    started = time.perf_counter()
    try:
        subprocess.run([str(aider_python()), str(HERE / "aider_side.py"), "map", str(tree), "65536", TASK],
                       capture_output=True, timeout=timeout, check=True)
        print(f"aider cold: {time.perf_counter() - started:.1f} s")
    except subprocess.TimeoutExpired:
        print(f"aider cold: not finished in {timeout:.0f} s")
    finally:
        shutil.rmtree(tree / ".aider.tags.cache.v4", ignore_errors=True)


if __name__ == "__main__":
    main()
