"""The link-swap race of issue 22, counted: write_file against a directory swapped for a link.

    python tests/bench/race.py [N]

A background loop in the sandboxed shell keeps swapping work/d between a directory and a link to
a host directory outside the workspace, while write_file writes work/d/f<i>.txt N times (5,000 by
default). Prints how many writes landed inside, how many were refused (and with which message),
how many were placed outside (the issue found 1,363 of 22,392 on the old code), and how many
raised anything but a tool error (a crash of the run).
"""

from __future__ import annotations

import collections
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.errors import ToolError  # noqa: E402
from agent.sandbox.bubblewrap import Sandbox, bwrap_problem  # noqa: E402
from tools.base import ShellSettings, ToolContext  # noqa: E402
from tools.files import WriteFileArgs, write_file  # noqa: E402
from tools.shell import ShellArgs, shell  # noqa: E402


def main(n: int) -> None:
    ws = Path(tempfile.mkdtemp(prefix="heron-race-ws-")).resolve()
    outside = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="heron-race-outside-"))
    outside.chmod(0o777)  # reachable and writable by anyone: only heron's checks stand in the way
    (ws / "work").mkdir()
    box = Sandbox(ws)
    if problem := bwrap_problem(box):
        sys.exit(f"bubblewrap is needed: {problem}")
    ctx = ToolContext(ws, shell=ShellSettings(sandbox=box))
    try:
        shell.run(ShellArgs(command=f"mkdir -p work/d; (while true; do mv work/d work/d.real; "
                                    f"ln -s {outside} work/d; rm -f work/d; mv work/d.real work/d; "
                                    "done) >/dev/null 2>&1 &"), ctx)
        outcomes: collections.Counter[str] = collections.Counter()
        for i in range(n):
            try:
                write_file.run(WriteFileArgs(path=f"work/d/f{i}.txt", content="x\n"), ctx)
                outcomes["written inside"] += 1
            except ToolError as e:
                outcomes["refused: " + str(e).split(": ", 1)[-1][:60]] += 1
            except Exception as e:  # noqa: BLE001 - what the benchmark counts as a crash
                outcomes[f"crashed: {type(e).__name__}"] += 1
        shell.run(ShellArgs(command="kill %1"), ctx)
    finally:
        ctx.close()
    placed_outside = len(list(outside.iterdir()))
    print(f"write_file calls: {n}")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    print(f"placed outside the workspace: {placed_outside}")
    shutil.rmtree(ws, ignore_errors=True)
    shutil.rmtree(outside, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
