"""Round trip of one trivial command: the persistent sandboxed shell against a fresh process per command.

    python tests/bench/shell.py [N]
    python tests/bench/shell.py --bigtree [N]

Prints the median milliseconds per `true` for: the persistent shell inside bubblewrap (heron's
shell tool), the persistent shell in the Landlock tier, one `subprocess.run` of bubblewrap per
command with the same sandbox, and one plain `subprocess.run` of bash per command; then the ratios
against the persistent shell.

With --bigtree, the workspace is tests/bench/bigtree.py's tree (about 200,000 files, built once),
and the medians are what heron's own bookkeeping costs a command there: the walk of the workspace
after each one (disk budget and nested git repositories, agent/sandbox/walk.py) and the sync of
the git directory's stand-in; the walk alone is timed too.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.sandbox.bubblewrap import Sandbox, bwrap_problem  # noqa: E402
from agent.sandbox.landlock_tier import LandlockSandbox, landlock_problem  # noqa: E402
from agent.sandbox.shell import ShellSession  # noqa: E402
from agent.sandbox.walk import walk  # noqa: E402
from agent.secrets import scrub_env  # noqa: E402


def median_ms(run: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        box = Sandbox(Path(tmp).resolve())
        problem = bwrap_problem(box)
        if problem:
            sys.exit(f"cannot benchmark the sandbox: {problem}")
        env = scrub_env(os.environ)
        shell = ShellSession(box.workspace, sandbox=box)
        launch = box.launch(["bash", "-c", "true"], env)
        landlock = None if landlock_problem() else ShellSession(box.workspace, sandbox=LandlockSandbox(box.workspace))
        try:
            shell.run("true", 10)  # warm
            persistent = median_ms(lambda: shell.run("true", 10), n)
            in_landlock = median_ms(lambda: landlock.run("true", 10), n) if landlock else None
            fresh_bwrap = median_ms(lambda: subprocess.run(
                launch.argv, env=launch.env, preexec_fn=launch.in_child, close_fds=False,
                check=True), max(10, n // 4))
            fresh_bash = median_ms(lambda: subprocess.run(["bash", "-c", "true"], check=True), max(10, n // 4))
        finally:
            shell.close()
            launch.cleanup()
            if landlock:
                landlock.close()
    print(f"persistent sandboxed shell      {persistent:8.2f} ms per command (median of {n})")
    if in_landlock is not None:
        print(f"persistent shell in Landlock    {in_landlock:8.2f} ms per command  x{in_landlock / persistent:.2f}")
    print(f"subprocess.run of bwrap         {fresh_bwrap:8.2f} ms per command  x{fresh_bwrap / persistent:.1f}")
    print(f"subprocess.run of bash (no box) {fresh_bash:8.2f} ms per command  x{fresh_bash / persistent:.1f}")


def big_tree(n: int) -> None:
    from tests.bench.bigtree import build

    tree = build().resolve()
    walks = [median_ms(lambda: walk(tree), 1) for _ in range(5)]
    print(f"{tree}: one walk of the workspace {statistics.median(walks):8.0f} ms (median of 5)")
    tiers = [("bubblewrap", Sandbox(tree), bwrap_problem(Sandbox(tree))),
             ("Landlock", LandlockSandbox(tree), landlock_problem())]
    for name, box, problem in tiers:
        if problem:
            print(f"{name}: skipped ({problem})")
            continue
        shell = ShellSession(tree, sandbox=box)
        try:
            shell.run("true", 60)  # warm
            print(f"{name:10}: {median_ms(lambda: shell.run('true', 60), n):8.0f} ms per command (median of {n})")
        finally:
            shell.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--bigtree"]
    count = int(args[0]) if args else None
    if "--bigtree" in sys.argv:
        big_tree(count or 20)
    else:
        main(count or 400)
