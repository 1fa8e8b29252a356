"""Runs inside heron's own venv (see benchdata.heron_python): heron as a user installs it, timed
as a whole process beside aider's side. Prints one JSON object.

  heron_side.py map ROOT TOKENS TASK [TASK ...]   the first map, then one turn per extra task
  heron_side.py floor ROOT                        parse and tag-query every file heron would, in
                                                  one process per core, keeping nothing
  heron_side.py scale ROOT TOKENS TASK EDIT BRANCH  the first map, then a turn after editing the
                                                  file EDIT, then one after `git checkout BRANCH`
                                                  and one after checking out the first branch again
"""

import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path

from edit_turn import edited


def first_map_and_turns(tree: str, tokens: int, tasks: list[str]) -> None:
    from agent.repomap import RepoMap  # each mode loads only what it uses, as heron would

    # One map, as `heron map` makes it, does not watch the tree for turns to come.
    repo_map = RepoMap(Path(tree), workers=int(os.environ.get("BENCH_WORKERS", "0")) or None, watch=len(tasks) > 1)
    seconds, text, tiers = [], "", {}
    for task in tasks:
        started = time.perf_counter()
        repo_map.refresh()
        rendered = repo_map.render(task, budget=tokens)
        seconds.append(time.perf_counter() - started)
        text, tiers = rendered.text, rendered.tiers
    edit = None
    if len(tasks) > 1 and os.environ.get("BENCH_EDIT"):
        with edited(Path(tree) / os.environ["BENCH_EDIT"]):
            started = time.perf_counter()
            repo_map.refresh()
            repo_map.render(tasks[-1] + " again", budget=tokens)
            edit = time.perf_counter() - started
    repo_map.close()  # as a session ends
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(json.dumps({"seconds": seconds, "edit": edit, "peak_mb": peak, "worker_peak_mb": workers, "map": text,
                      "stats": repo_map.stats.__dict__, "tiers": Counter(tiers.values())}))


def scale(tree: str, tokens: int, task: str, edit: str, branch: str) -> None:
    """The first map (cold or warm: the caller decides), then timed turns after one edit and
    after a checkout of many files, each a refresh and a map for the task."""
    import subprocess

    from agent.repomap import RepoMap

    root = Path(tree)
    started = time.perf_counter()
    repo_map = RepoMap(root, workers=int(os.environ.get("BENCH_WORKERS", "0")) or None)
    repo_map.refresh()
    first = repo_map.render(task, budget=tokens)
    seconds = {"first": time.perf_counter() - started, "files": repo_map.stats.files,
               "parsed": repo_map.stats.parsed}

    def turn(name: str) -> None:
        started = time.perf_counter()
        repo_map.refresh()
        repo_map.render(task, budget=tokens)
        seconds[name] = time.perf_counter() - started
        seconds[name + "_parsed"] = repo_map.stats.parsed

    turn("nothing")
    with edited(root / edit):
        turn("edit")
    turn("edit_undone")
    back = subprocess.run(["git", "branch", "--show-current"], cwd=root, capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "checkout", "-q", branch], cwd=root, check=True)
    try:
        turn("checkout")
    finally:
        subprocess.run(["git", "checkout", "-q", back], cwd=root, check=True)
    turn("checkout_back")
    repo_map.close()
    seconds["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    seconds["worker_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    seconds["tokens"] = first.tokens
    print(json.dumps(seconds))


def floor(tree: str) -> None:
    from concurrent.futures import ProcessPoolExecutor

    from agent.repomap.files import Lister

    paths = [str(Path(tree) / f.path) for f in Lister().list(Path(tree))]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        captures = sum(pool.map(parse_and_query, paths, chunksize=max(1, len(paths) // 64)))
    print(json.dumps({"captures": captures}))


def parse_and_query(path: str) -> int:
    from agent.repomap.languages import language_of
    from agent.repomap.tags import tag_captures

    language = language_of(path)
    return sum(map(len, tag_captures(Path(path).read_bytes(), language).values())) if language else 0


if __name__ == "__main__":
    mode, tree, *rest = sys.argv[1:]
    if mode == "floor":
        floor(tree)
    elif mode == "scale":
        scale(tree, int(rest[0]), *rest[1:])
    else:
        first_map_and_turns(tree, int(rest[0]), rest[1:])
