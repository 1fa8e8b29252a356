"""How much the concurrent chunks of `heron review` save, and what the hook costs when idle.

Run: python tests/bench/review_concurrency.py [ROUNDS]

A staged change of 8 files is split into 8 chunks (--chunk-tokens 100, which also loads the
tokenizer, a fixed cost). The scripted server streams each answer over about 0.7 s and serves
requests in parallel, as a batching local server does. The
anchor is the same review run one chunk at a time (--jobs 1), side by side with --jobs 4 and 8.
The second table is the whole `heron review` process when nothing is staged (what every commit
pays for the hook) against `git diff --cached --quiet`, the git command it stands beside.
Figures are whole-process wall-clock medians.
"""

from __future__ import annotations

import re
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
REPLY_DELAY = 0.05  # seconds between streamed pieces: about 0.7 s an answer


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Whole-process seconds, and what the process wrote on stderr."""
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed, proc.stderr


def reported_seconds(stderr: str) -> float:
    """The review's own time, from its summary line (no interpreter start-up in it)."""
    found = re.search(r", ([0-9.]+) s, [0-9,]+ tokens$", stderr.strip())
    if not found:
        raise SystemExit(f"no summary line in: {stderr}")
    return float(found.group(1))


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
        whole: dict[int, list[float]] = {1: [], 4: [], 8: []}
        own: dict[int, list[float]] = {1: [], 4: [], 8: []}
        for _ in range(rounds):
            for jobs in whole:  # side by side, round after round
                for i in range(FILES):
                    server.script_for(f"## m{i}.py", Reply(tool_calls=[call("finish", summary="fine")],
                                                           text="looks fine " * 4, chunk_delay=REPLY_DELAY))
                elapsed, stderr = run([*review, "--jobs", str(jobs)], repo, env)
                whole[jobs].append(elapsed)
                own[jobs].append(reported_seconds(stderr))
        anchor, own_anchor = statistics.median(whole[1]), statistics.median(own[1])
        print(f"heron review, {FILES} chunks, scripted server (~0.7 s per streamed answer), median of {rounds}:")
        print("            whole process            the review itself (summary line)")
        for jobs in whole:
            w, o = statistics.median(whole[jobs]), statistics.median(own[jobs])
            print(f"  --jobs {jobs}: {w:6.2f} s  {anchor / w:4.2f}x anchor     {o:6.2f} s  {own_anchor / o:4.2f}x anchor")

        empty = root / "empty"
        make_repo(empty, {"a.py": "x = 1\n"})
        run([str(HERON), "hook", "install"], empty, env)
        hook = [str(empty / ".git" / "hooks" / "pre-commit")]
        idle: dict[str, list[float]] = {"git diff --cached --quiet": [], "heron review (nothing staged)": [],
                                        "the installed hook (nothing staged)": []}
        for _ in range(rounds):
            idle["git diff --cached --quiet"].append(run(["git", "diff", "--cached", "--quiet"], empty, env)[0])
            idle["heron review (nothing staged)"].append(run(review, empty, env)[0])
            idle["the installed hook (nothing staged)"].append(run(hook, empty, env)[0])
        git_median = statistics.median(idle["git diff --cached --quiet"])
        print(f"the idle hook, median of {rounds}:")
        for name, values in idle.items():
            median = statistics.median(values)
            print(f"  {name:36s} {median:6.3f} s   {median / git_median:6.1f}x git")


if __name__ == "__main__":
    main()
