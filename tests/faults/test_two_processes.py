"""Two heron processes on one repository at once, as real CLIs: their turns take turns in the
working tree (so undo gives each its own changes back), undo waits for no one and undoes no
running turn, and maps, reviews and sessions kept side by side do not disturb each other."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply
from tests.faults.support import running, start_heron, tree_state, wait_for

pytestmark = pytest.mark.faults


def held_turn(server: FakeOpenAIServer, repo: Path, home: Path, gate: Path) -> subprocess.Popen[str]:
    """`heron fix` that writes a.txt, then holds its turn open until `gate` exists."""
    server.script(
        tool_reply(call("write_file", path="a.txt", content="from the first heron\n")),
        tool_reply(call("shell", command=f"sh -c 'while [ ! -e {gate} ]; do sleep 0.1; done'")),
        tool_reply(call("finish", summary="wrote a.txt")),
    )
    heron = start_heron(["fix", "write a.txt", "--repo", str(repo), "--base-url", server.base_url, "--yes",
                         "--sandbox", "off"], home)
    wait_for(lambda: bool(running(str(gate))) or heron.poll() is not None, "the first heron's turn to hold")
    assert heron.poll() is None, heron.communicate()
    return heron


def collect(stream) -> list[str]:
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True).start()
    return lines


def test_two_fix_runs_take_turns_and_undo_gives_each_its_own_changes_back(tmp_path, home):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    before = tree_state(repo)
    gate = tmp_path / "gate"
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        a = held_turn(first, repo, home, gate)
        second.script(tool_reply(call("write_file", path="b.txt", content="from the second heron\n")),
                      tool_reply(call("finish", summary="wrote b.txt")))
        b = start_heron(["fix", "write b.txt", "--repo", str(repo), "--base-url", second.base_url, "--yes"], home)
        b_err = collect(b.stderr)
        wait_for(lambda: any("is in a turn in this working tree" in line for line in b_err) or b.poll() is not None,
                 "the second heron to wait for the first one's turn")
        assert not (repo / "b.txt").exists()  # it waited: nothing written during the other's turn
        gate.touch()
        assert a.wait(timeout=120) == 0, a.communicate()
        assert b.wait(timeout=120) == 0, "".join(b_err)

    # The latest session is the second heron's: undo takes back b.txt and only it.
    undo = run_heron(["undo", "--repo", str(repo)], home)
    assert undo.returncode == 0, undo.stderr
    assert not (repo / "b.txt").exists() and (repo / "a.txt").exists()
    undo = run_heron(["undo", "--repo", str(repo)], home)
    assert undo.returncode == 0, undo.stderr
    assert tree_state(repo) == before


def test_undo_while_another_heron_is_in_a_turn_refuses_and_changes_nothing(tmp_path, home):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    gate = tmp_path / "gate"
    with FakeOpenAIServer() as server:
        heron = held_turn(server, repo, home, gate)
        undo = run_heron(["undo", "--repo", str(repo)], home)
        assert undo.returncode == 1, undo.stderr
        assert "heron (pid" in undo.stderr and "is in a turn in" in undo.stderr and "Traceback" not in undo.stderr
        assert (repo / "a.txt").read_text() == "from the first heron\n"
        gate.touch()
        assert heron.wait(timeout=120) == 0, heron.communicate()
    assert run_heron(["undo", "--repo", str(repo)], home).returncode == 0
    assert not (repo / "a.txt").exists()


def test_a_turn_waiting_for_another_herons_can_be_interrupted(tmp_path, home):
    from agent.config import Config
    from agent.core.build import Role, open_session
    from agent.core.session import Interrupt, Submit
    from agent.events import TurnEnded, Warning
    from agent.interfaces import Answer

    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    gate = tmp_path / "gate"
    events: list = []
    with FakeOpenAIServer() as first, FakeOpenAIServer() as second:
        heron = held_turn(first, repo, home, gate)
        # The TUI's way: a session on the core's thread, a message, then Esc while it waits.
        session = open_session(Config(base_url=second.base_url, max_retries=0), repo, events.append,
                               Role(answer=Answer.YES))
        session.start()
        try:
            session.send(Submit("write b.txt"))
            wait_for(lambda: any(isinstance(e, Warning) and "is in a turn" in e.message for e in events),
                     "the second turn to wait")
            session.send(Interrupt())
            wait_for(lambda: any(isinstance(e, TurnEnded) for e in events), "the waiting turn to stop", timeout=10)
        finally:
            session.close()
            gate.touch()
        assert heron.wait(timeout=120) == 0, heron.communicate()
    ended = next(e for e in events if isinstance(e, TurnEnded))
    assert ended.outcome.summary == "interrupted by the user" and not second.chat_requests


def test_maps_and_a_review_beside_a_running_fix_leave_each_other_intact(tmp_path, home):
    repo = tmp_path / "r"
    make_repo(repo, {f"m{n}.py": f"def f{n}(x):\n    return m{n - 1}.f{n - 1}(x)\n" for n in range(1, 40)})
    (repo / "m1.py").write_text("def f1(x):\n    return x + 1\n")
    subprocess.run(["git", "-C", str(repo), "add", "m1.py"], check=True)
    staged = subprocess.run(["git", "-C", str(repo), "diff", "--cached"], capture_output=True, text=True).stdout
    gate = tmp_path / "gate"
    cache = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    with FakeOpenAIServer() as server, FakeOpenAIServer() as reviewer:
        heron = held_turn(server, repo, home, gate)
        alone = run_heron(["map", str(repo)], home, XDG_CACHE_HOME=str(tmp_path / "cache-alone"))
        assert alone.returncode == 0, alone.stderr
        reviewer.script(*[Reply(text="No findings.")] * 4)
        maps = [start_heron(["map", str(repo)], home, **cache) for _ in range(3)]
        review = run_heron(["review", "--staged", "--repo", str(repo), "--base-url", reviewer.base_url], home)
        outputs = [m.communicate(timeout=240) for m in maps]
        gate.touch()
        assert heron.wait(timeout=120) == 0, heron.communicate()
    assert review.returncode == 0 and "Traceback" not in review.stderr, review.stderr
    for m, (out, err) in zip(maps, outputs):
        assert m.returncode == 0 and "Traceback" not in err, err
        assert out == alone.stdout  # each map whole, whatever the others did to the cache meanwhile
    again = run_heron(["map", str(repo), "--stats"], home, **cache)
    assert again.stdout == alone.stdout
    # The fix's snapshots go through a private index: what the user staged is as they left it.
    assert subprocess.run(["git", "-C", str(repo), "diff", "--cached"], capture_output=True, text=True).stdout == staged


def test_undo_takes_back_the_latest_turn_even_from_the_session_that_began_first(tmp_path):
    from agent.vcs.checkpoints import GitCheckpoints, new_session_id
    from agent.vcs.record import latest_checkpoints

    repo = make_repo(tmp_path / "r", {"a.py": "a = 1\n"})
    root = Path(repo.working_tree_dir)
    first = GitCheckpoints(repo, new_session_id(), [].append)  # e.g. a TUI opened a while ago
    second = GitCheckpoints(repo, new_session_id(), [].append)  # a `heron fix` started since
    for session, text in ((second, "from the fix\n"), (first, "from the TUI\n")):
        session.begin_turn("write")
        session.before_change(root / "shared.txt")
        (root / "shared.txt").write_text(text)
        session.end_turn("wrote shared.txt")
    latest = latest_checkpoints(root, [].append)
    assert latest is not None and latest.session == first.session
    latest.undo()
    assert (root / "shared.txt").read_text() == "from the fix\n"
