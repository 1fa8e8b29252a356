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

Then the faults around the run: a context overflow mid-run (compacted, the request sent again),
a session whose last line a kill cut in half (resumed), two `heron fix` runs at once on one
repository (both finish; two undos give back the tree as it was), a full disk under a file
write (a tool error, the file intact; needs root to mount a tmpfs, else reported as skipped),
hostile content (symlink loops, links out, names not UTF-8, huge and binary files: map, read and
undo) and git stopped on merge conflicts (`heron map` and `heron fix`). Each survived when heron
answers without a traceback and the user's files are as they should be.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from agent.events import Event  # noqa: E402
from tests.conftest import make_repo, run_heron, write_files  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply  # noqa: E402
from tests.faults.support import (  # noqa: E402
    COMMAND,
    FAULTS,
    kill,
    run_turn,
    running,
    start_heron,
    tree_state,
    wait_for,
)
from tests.faults.test_full_disk import fill  # noqa: E402
from tests.faults.test_git_states import merge_conflict  # noqa: E402
from tests.faults.test_hostile_content import SECRET, hostile_repo  # noqa: E402
from tests.faults.test_overflow_and_resume import OVERFLOW  # noqa: E402

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


def fix(workspace: Path, server: FakeOpenAIServer, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_heron(["fix", "tidy up", "--repo", str(workspace), "--base-url", server.base_url, "--yes", *extra],
                     home, timeout=600)


def clean(result: subprocess.CompletedProcess[str], *codes: int) -> bool:
    return result.returncode in (codes or (0,)) and "Traceback" not in result.stderr


def overflow(work: Path, home: Path) -> tuple[bool, int]:
    repo = work / "repo"
    make_repo(repo, USER_FILES)
    with FakeOpenAIServer() as server:
        server.script(tool_reply(call("read_file", path="a.py")), tool_reply(call("shell", command=COMMAND)),
                      OVERFLOW, Reply(text="Read a.py and ran the command."),
                      tool_reply(call("finish", summary="ran it")))
        result = fix(repo, server, home)
    runs = len((repo / "runs.log").read_text().splitlines()) if (repo / "runs.log").exists() else 0
    return clean(result) and "context compacted, overflow" in result.stderr and runs == 1, max(runs - 1, 0)


def torn_transcript(work: Path, home: Path) -> tuple[bool, int]:
    repo = work / "repo"
    make_repo(repo, USER_FILES)
    gate = work / "gate"
    with FakeOpenAIServer() as server:
        wait = f"sh -c 'while [ ! -e {gate} ]; do sleep 0.1; done'"
        server.script(tool_reply(call("shell", command=f"{COMMAND}; {wait}")))
        heron = start_heron(["fix", "tidy up", "--repo", str(repo), "--base-url", server.base_url, "--yes"], home)
        wait_for(lambda: bool(running(str(gate))) or heron.poll() is not None, "the command to start")
        kill(heron)
        session = max((home / ".local/share/heron/sessions").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        with session.open("a") as f:
            f.write('{"type": "message", "message": {"role": "to')
        server.script(tool_reply(call("finish", summary="it ran")))
        result = run_heron(["fix", "--resume", session.stem, "--base-url", server.base_url, "--yes"], home,
                           cwd=work, timeout=600)
    runs = len((repo / "runs.log").read_text().splitlines())
    return clean(result) and runs == 1, max(runs - 1, 0)


def two_processes(work: Path, home: Path) -> tuple[bool, int]:
    repo = work / "repo"
    make_repo(repo, USER_FILES)
    before = tree_state(repo)
    with FakeOpenAIServer() as one, FakeOpenAIServer() as two:
        for n, server in enumerate((one, two)):
            server.script(tool_reply(call("write_file", path=f"new{n}.py", content="x = 1\n")),
                          tool_reply(call("shell", command=f"echo {n} >> runs.log")),
                          tool_reply(call("finish", summary="ok")))
        herons = [start_heron(["fix", "tidy up", "--repo", str(repo), "--base-url", s.base_url, "--yes"], home)
                  for s in (one, two)]
        finished = all(h.wait(timeout=600) == 0 for h in herons)
    runs = (repo / "runs.log").read_text().split()
    undone = [run_heron(["undo", "--repo", str(repo)], home) for _ in herons]
    ok = finished and all(clean(u) for u in undone) and tree_state(repo) == before
    return ok and sorted(runs) == ["0", "1"], len(runs) - len(set(runs))


def full_disk(work: Path, home: Path) -> tuple[bool, int] | None:
    disk = work / "disk"
    disk.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True).returncode:
        return None
    try:
        repo = disk / "repo"
        make_repo(repo, USER_FILES)
        fill(disk)
        before = {k: v for k, v in tree_state(repo).items() if k in USER_FILES}
        with FakeOpenAIServer() as server:
            server.script(tool_reply(call("read_file", path="a.py")),
                          tool_reply(call("write_file", path="a.py", content="a = 2\n" * 4000)),
                          tool_reply(call("finish", summary="the disk is full")))
            result = fix(repo, server, home)
        after = {k: v for k, v in tree_state(repo).items() if k in USER_FILES}
        return clean(result) and after == before, 0
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def hostile(work: Path, home: Path) -> tuple[bool, int]:
    work.mkdir(parents=True)
    repo = hostile_repo(work)
    before = tree_state(repo)
    mapped = run_heron(["map", str(repo)], home, timeout=600)
    with FakeOpenAIServer() as server:
        reads = ("loop", "escape.py", "blob.bin", "huge.py", "latin1.py")
        server.script(*[tool_reply(call("read_file", path=p)) for p in reads],
                      tool_reply(call("write_file", path="escape.py", content="x = 1\n")),
                      tool_reply(call("edit_file", path="latin1.py", old="name", new="nom")),
                      tool_reply(call("finish", summary="looked")))
        result = fix(repo, server, home)
        leaked = SECRET in json.dumps(server.chat_requests)
    undone = run_heron(["undo", "--repo", str(repo)], home)
    return clean(mapped) and clean(result) and clean(undone) and not leaked and tree_state(repo) == before, 0


def conflicts(work: Path, home: Path) -> tuple[bool, int]:
    repo = merge_conflict(work)
    mapped = run_heron(["map", str(repo)], home, timeout=600)
    with FakeOpenAIServer() as server:
        server.script(tool_reply(call("write_file", path="new.py", content="x = 1\n")),
                      tool_reply(call("finish", summary="ok")))
        result = fix(repo, server, home, "--sandbox", "off")
    return clean(mapped) and clean(result) and (repo / "new.py").exists(), 0


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
        around = {"context overflow mid-run": overflow, "session cut mid-line, resumed": torn_transcript,
                  "two heron fix runs at once": two_processes, "full disk under a file write": full_disk,
                  "hostile content (loops, links out, not UTF-8, huge, binary)": hostile,
                  "git stopped on merge conflicts": conflicts}
        for n, (name, case) in enumerate(around.items()):
            outcome = case(root / f"a{n}", home)
            if outcome is None:
                print(f"{name}: skipped (mounting a tmpfs needs root)")
                continue
            ok, dup = outcome
            injected, survived, duplicated = injected + 1, survived + ok, duplicated + dup
            print(f"{name}: {'survived' if ok else 'NOT SURVIVED'}")
    print(f"{injected} faults injected, {survived} survived, {lost} edits lost, {duplicated} duplicated tool runs")


if __name__ == "__main__":
    main()
