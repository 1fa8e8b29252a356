"""Benchmark: faults injected into real heron runs, and what survived them.

    python tests/bench/faults.py [--kills 8] [--seed 1]

Server faults: each fault of tests/faults (a reset, a stream without a finish, a chunk that is not
JSON, a stall, 429/5xx with and without Retry-After) hits a turn that runs a shell command, and
a server is restarted mid-session; a fault survived when the turn finishes and the command ran
exactly once. Kills: `heron fix` edits a file, creates one and runs a shell command in a
workspace holding the user's own uncommitted work, and is killed with SIGKILL at a random moment;
then `heron undo` runs. A kill survived when every file is back as the user had it, byte for byte
and mode for mode; each file that is not counts as an edit lost. Half the kills are in a git
repository, half in a plain directory (heron's journal).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.events import Event  # noqa: E402
from tests.conftest import make_repo, run_heron, write_files  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply  # noqa: E402
from tests.faults.support import COMMAND, FAULTS, kill, run_turn, start_heron, tree_state  # noqa: E402

USER_FILES = {"a.py": "a = 1\n", "b.py": "b = 1\n"}


def server_fault(faulty: Reply, work: Path) -> tuple[bool, int]:
    """(survived, duplicated tool runs) of one turn hit by `faulty`."""
    repo = work / "repo"
    make_repo(repo, USER_FILES)
    with FakeOpenAIServer() as server:
        server.script(faulty, tool_reply(call("shell", command=COMMAND)), tool_reply(call("finish", summary="ok")))
        events: list[Event] = []
        try:
            status = run_turn(server, repo, events)
        except Exception as e:  # a fault not survived is a figure here, not a crash of the benchmark
            print(f"  not survived: {type(e).__name__}: {e}")
            status = "crashed"
    runs = len((repo / "runs.log").read_text().splitlines()) if (repo / "runs.log").exists() else 0
    return status == "finished" and runs == 1, max(runs - 1, 0)


def restarted_server(work: Path) -> tuple[bool, int]:
    """A server that goes away between two turns and comes back on its port, its cache empty."""
    repo = work / "repo"
    make_repo(repo, USER_FILES)
    with FakeOpenAIServer() as first:
        first.script(tool_reply(call("shell", command=COMMAND)), tool_reply(call("finish", summary="one")))
        port = int(first.base_url.rsplit(":", 1)[1].split("/")[0])
        events: list[Event] = []
        finished = run_turn(first, repo, events) == "finished"
    with FakeOpenAIServer(port=port) as second:
        second.script(tool_reply(call("finish", summary="two")))
        finished = finished and run_turn(second, repo, events, task="again") == "finished"
    runs = len((repo / "runs.log").read_text().splitlines())
    return finished and runs == 1, max(runs - 1, 0)


def killed_run(work: Path, git: bool, delay: float, home: Path) -> tuple[bool, int]:
    """(survived, edits lost) of a `heron fix` killed `delay` seconds in, then undone."""
    workspace = work / "ws"
    make_repo(workspace, USER_FILES) if git else write_files(workspace, USER_FILES)
    (workspace / "a.py").write_text("a = 2  # the user's unstaged change\n")
    (workspace / "notes.txt").write_text("the user's own new file\n")
    (workspace / "run.sh").write_text("echo hi\n")
    (workspace / "run.sh").chmod(0o755)
    before = tree_state(workspace)
    with FakeOpenAIServer() as server:
        server.script(
            tool_reply(call("read_file", path="a.py")),
            tool_reply(call("edit_file", path="a.py", old="a = 2", new="a = 3")),
            tool_reply(call("write_file", path="pkg/new.py", content="x = 1\n" * 2000)),
            tool_reply(call("write_file", path="run.sh", content="echo changed\n")),
            tool_reply(call("shell", command="echo ran > shell.txt; sleep 30")),
        )
        state = {"XDG_STATE_HOME": str(home / "state")}
        heron = start_heron(["fix", "tidy up", "--repo", str(workspace), "--base-url", server.base_url, "--yes"],
                            home, **state)
        time.sleep(delay)
        kill(heron)
    undo = run_heron(["undo", "--repo", str(workspace)], home, **state)
    after = tree_state(workspace)
    if not git:  # outside a repository undo covers the file tools; the shell's own file stays
        after.pop("shell.txt", None)
    lost = sum(after.get(name) != data for name, data in before.items()) + len(set(after) - set(before))
    return undo.returncode in (0, 1) and "Traceback" not in undo.stderr and lost == 0, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=8, help="SIGKILLs at random moments")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    injected = survived = lost = duplicated = 0
    with tempfile.TemporaryDirectory(prefix="heron-bench-faults-") as tmp:
        root = Path(tmp)
        cases = [(name, lambda w, r=reply: server_fault(r, w)) for name, (reply, _) in FAULTS.items()]
        cases.append(("server restarted mid-session", restarted_server))
        for n, (name, case) in enumerate(cases):
            ok, dup = case(root / f"s{n}")
            injected, survived, duplicated = injected + 1, survived + ok, duplicated + dup
            print(f"server fault: {name}: {'survived' if ok else 'NOT SURVIVED'}")
        home = root / "home"
        home.mkdir()
        for n in range(args.kills):
            git, delay = n % 2 == 0, rng.uniform(0.3, 4.0)
            ok, gone = killed_run(root / f"k{n}", git, delay, home)
            injected, survived, lost = injected + 1, survived + ok, lost + gone
            where = "git repository" if git else "plain directory"
            print(f"SIGKILL after {delay:.2f} s in a {where}: {'survived' if ok else 'NOT SURVIVED'}")
    print(f"{injected} faults injected, {survived} survived, {lost} edits lost, {duplicated} duplicated tool runs")


if __name__ == "__main__":
    main()
