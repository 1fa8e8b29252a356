"""heron killed (SIGKILL) in the middle of a turn: what the agent did before the kill is known to
`heron undo`, the user's own work is never taken for the agent's, and no process outlives heron."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.conftest import make_repo, run_heron, write_files
from tests.fakes.openai_server import FakeOpenAIServer, call, tool_reply
from tests.faults.support import kill, running, start_heron, tree_state, wait_for

pytestmark = pytest.mark.faults


def user_work(path: Path, repo: bool) -> Path:
    """A workspace with the user's own uncommitted work: an edited file and a new one."""
    files = {"a.py": "a = 1\n", "b.py": "b = 1\n"}
    make_repo(path, files) if repo else write_files(path, files)
    (path / "a.py").write_text("a = 2  # the user's unstaged change\n")
    (path / "notes.txt").write_text("the user's own new file\n")
    return path


def killed_mid_turn(workspace: Path, server: FakeOpenAIServer, home: Path, sandbox: str = "auto") -> str:
    """heron edits a file, creates one, starts a long shell command, and is killed in it."""
    token = f"300.{secrets.randbelow(10**6):06d}"  # a sleep no other process runs
    server.script(
        tool_reply(call("read_file", path="a.py")),
        tool_reply(call("edit_file", path="a.py", old="a = 2", new="a = 3")),
        tool_reply(call("write_file", path="pkg/new.py", content="x = 1\n")),
        tool_reply(call("shell", command=f"echo started > started.txt; sleep {token}")),
    )
    heron = start_heron(["fix", "tidy up", "--repo", str(workspace), "--base-url", server.base_url, "--yes"],
                        home, XDG_STATE_HOME=str(home / "state"), HERON_SANDBOX=sandbox)
    wait_for(lambda: bool(running(token)) or heron.poll() is not None, "the shell command to start")
    assert heron.poll() is None, heron.communicate()
    kill(heron)
    return token


@pytest.mark.parametrize("repo", [True, False], ids=["git", "journal"])
def test_undo_after_sigkill_mid_turn_takes_back_all_the_agent_did(tmp_path, home, fake_server, repo):
    workspace = user_work(tmp_path / "w", repo)
    before = tree_state(workspace)
    token = killed_mid_turn(workspace, fake_server, home)
    assert (workspace / "a.py").read_text() == "a = 3  # the user's unstaged change\n"
    assert (workspace / "pkg/new.py").exists()

    result = run_heron(["undo", "--repo", str(workspace)], home, XDG_STATE_HOME=str(home / "state"))
    assert result.returncode == 0, result.stderr
    assert "heron stopped before the turn ended" in result.stdout
    after = tree_state(workspace)
    if repo:
        # Snapshots cover the shell too: even the file the killed command wrote is taken back.
        assert after == before
    else:
        # Outside a repository undo covers the file tools only; the shell's file stays, reported by name.
        assert after == {**before, "started.txt": after["started.txt"]}
    assert running(token) == set()


@pytest.mark.parametrize("sandbox", ["auto", "landlock", "off"])
def test_no_shell_process_outlives_a_killed_heron(tmp_path, home, fake_server, sandbox):
    workspace = user_work(tmp_path / "w", repo=True)
    token = killed_mid_turn(workspace, fake_server, home, sandbox)
    wait_for(lambda: not running(token), "the killed heron's shell command to end", timeout=10)
