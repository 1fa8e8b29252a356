"""How much the concurrent chunks of `heron review` save, and what the hook costs when idle.

Run: python tests/bench/review_concurrency.py [ROUNDS]

A staged change of 8 files is split into 8 chunks (--chunk-tokens 100). The scripted server takes
about 0.4 s per answer and serves requests in parallel, as a batching local server does. The
anchor is the same review run one chunk at a time (--jobs 1), side by side with --jobs 4 and 8.
The second table is the whole `heron review` process when nothing is staged (what every commit
pays for the hook) against `git diff --cached --quiet`, the git command it stands beside.
Figures are whole-process wall-clock medians.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.conftest import HERON, heron_env, make_repo  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call  # noqa: E402

FILES = 8
REPLY_DELAY = 0.05  # seconds between streamed pieces: about 0.2 s an answer, 0.4 s a chunk


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def staged_repo(root: Path) -> Path:
    repo = root / "repo"
    make_repo(repo, {f"m{i}.py": f"def f{i}(x):\n    return x + {i}\n" for i in range(FILES)})
    for i in range(FILES):
        (repo / f"m{i}.py").write_text(f"def f{i}(x):\n    return x - {i}\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    return repo


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as server:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        repo = staged_repo(root)
        env = heron_env(home)
        review = [str(HERON), "review", "--base-url", server.base_url, "--chunk-tokens", "100"]
        times: dict[int, list[float]] = {1: [], 4: [], 8: []}
        for _ in range(rounds):
            for jobs in times:  # side by side, round after round
                for i in range(FILES):
                    server.script_for(f"## m{i}.py", Reply(tool_calls=[call("finish", summary="fine")],
                                                           text="looks fine " * 4, chunk_delay=REPLY_DELAY))
                times[jobs].append(timed([*review, "--jobs", str(jobs)], repo, env))
        anchor = statistics.median(times[1])
        print(f"heron review, {FILES} chunks, scripted server (~{REPLY_DELAY * 7:.2f} s per answer), "
              f"median of {rounds}:")
        for jobs, values in times.items():
            median = statistics.median(values)
            print(f"  --jobs {jobs}: {median:6.2f} s   {anchor / median:4.2f}x the --jobs 1 anchor")

        empty = root / "empty"
        make_repo(empty, {"a.py": "x = 1\n"})
        idle: dict[str, list[float]] = {"git diff --cached --quiet": [], "heron review (nothing staged)": []}
        for _ in range(rounds):
            idle["git diff --cached --quiet"].append(timed(["git", "diff", "--cached", "--quiet"], empty, env))
            idle["heron review (nothing staged)"].append(timed([*review], empty, env))
        git_median = statistics.median(idle["git diff --cached --quiet"])
        print(f"the idle hook, median of {rounds}:")
        for name, values in idle.items():
            median = statistics.median(values)
            print(f"  {name:32s} {median:6.3f} s   {median / git_median:6.1f}x git")


if __name__ == "__main__":
    main()
