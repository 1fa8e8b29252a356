"""Checkpoints and undo in real repositories: the real loop, shell and CLI against the fake server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import Config
from agent.core.build import Role, open_session
from agent.events import Event, Warning
from agent.interfaces import Answer
from agent.vcs.checkpoints import NothingToUndo
from agent.vcs.record import latest_checkpoints
from tests.conftest import make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply
from tests.peak_memory import measured, peak_kib
from tools.base import ToolContext, ToolError
from tools.git import git_diff, git_log, git_show, git_status


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=repo, capture_output=True, text=True, check=True).stdout


def fix(repo: Path, server: FakeOpenAIServer, home: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return run_heron(["fix", "tidy up", "--repo", str(repo), "--base-url", server.base_url, "--yes", *flags],
                     home, XDG_STATE_HOME=str(home / "state"))


def undo(repo: Path, home: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_heron(["undo", *argv, "--repo", str(repo)], home, XDG_STATE_HOME=str(home / "state"))


def dirty_repo(path: Path) -> Path:
    """A repository with the user's own work in progress: a staged change, an unstaged one, a new file."""
    make_repo(path, {"a.py": "a = 1\n", "b.py": "b = 1\n", "c.py": "c = 1\n", ".gitignore": "*.log\n"})
    (path / "c.py").write_text("c = 2  # the user's staged change\n")
    git(path, "add", "c.py")
    (path / "a.py").write_text("a = 2  # the user's unstaged change\n")
    (path / "notes.txt").write_text("the user's own new file\n")
    (path / "build.log").write_text("ignored\n")
    return path


def test_undo_after_shell_rm_new_file_and_edit_keeps_the_users_work(tmp_path, home, fake_server):
    repo = dirty_repo(tmp_path / "r")
    status_before, staged_before = git(repo, "status", "--porcelain"), git(repo, "diff", "--cached")
    fake_server.script(
        tool_reply(call("shell", command="rm b.py && mkdir -p pkg && echo 'x = 1' > pkg/new.py")),
        tool_reply(call("read_file", path="a.py")),
        tool_reply(call("edit_file", path="a.py", old="a = 2", new="a = 3")),
        tool_reply(call("read_file", path="build.log")),
        tool_reply(call("write_file", path="build.log", content="rewritten\n")),
        tool_reply(call("finish", summary="removed b.py, added pkg/new.py, bumped a")),
    )
    result = fix(repo, fake_server, home)
    assert result.returncode == 0, result.stderr
    assert not (repo / "b.py").exists() and (repo / "pkg/new.py").exists()
    # The stat shows the agent's changes only, not the user's c.py or notes.txt.
    assert "b.py" in result.stdout and "pkg/new.py" in result.stdout and "a.py" in result.stdout
    assert "c.py" not in result.stdout and "notes.txt" not in result.stdout

    result = undo(repo, home)
    assert result.returncode == 0, result.stderr
    assert "undid turn 1: removed b.py, added pkg/new.py, bumped a" in result.stdout
    assert (repo / "b.py").read_text() == "b = 1\n"
    assert not (repo / "pkg").exists()
    assert (repo / "a.py").read_text() == "a = 2  # the user's unstaged change\n"
    assert (repo / "notes.txt").read_text() == "the user's own new file\n"
    assert (repo / "c.py").read_text() == "c = 2  # the user's staged change\n"
    # Ignored files are not checkpointed: the agent's change to one stays.
    assert (repo / "build.log").read_text() == "rewritten\n"
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "diff", "--cached") == staged_before
    assert git(repo, "stash", "list") == "" and git(repo, "branch", "--format=%(refname:short)") == "main\n"

    again = undo(repo, home)
    assert again.returncode == 1
    assert "nothing to undo" in again.stderr and "Traceback" not in again.stderr


def test_undo_with_nothing_recorded_says_so(tmp_path, home):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a\n"})
    result = undo(repo, home)
    assert result.returncode == 1
    assert result.stderr.strip() == f"heron: nothing to undo: heron has recorded no change in {repo.resolve()}"
    assert undo(repo, home, "0").returncode == 2


def test_undo_n_turns_of_the_latest_session_only(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "v0\n"})
    fake_server.script(
        tool_reply(call("read_file", path="a.py")),
        tool_reply(call("write_file", path="a.py", content="v1\n")),
        tool_reply(call("finish", summary="first session")),
    )
    assert fix(repo, fake_server, home).returncode == 0
    fake_server.script(
        tool_reply(call("read_file", path="a.py")),
        tool_reply(call("write_file", path="a.py", content="v2\n")),
        tool_reply(call("finish", summary="second session")),
    )
    assert fix(repo, fake_server, home).returncode == 0
    listing = undo(repo, home, "--list")
    assert "1 turn(s) can be undone" in listing.stdout and "turn 1: second session (a.py)" in listing.stdout
    result = undo(repo, home, "5")
    assert result.returncode == 0, result.stderr
    assert (repo / "a.py").read_text() == "v1\n"
    assert "only 1 turn(s)" in result.stdout


def test_undo_is_per_turn_and_leaves_edits_made_between_and_after_turns(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a0\n", "b.py": "b0\n", "c.py": "c0\n"})
    fake_server.script(
        tool_reply(call("shell", command="echo a1 > a.py && chmod +x a.py")),
        Reply(text="done one"),
        tool_reply(call("shell", command="echo b1 > b.py && echo a2 > a.py")),
        Reply(text="done two"),
    )
    events: list[Event] = []
    cfg = Config(base_url=fake_server.base_url, max_retries=0, approval="full-auto")
    rt = open_session(cfg, repo, events.append, Role(answer=Answer.NO))
    rt.turn("turn one")
    (repo / "c.py").write_text("c-user\n")  # the user edits between the turns
    rt.turn("turn two")
    rt.close()
    (repo / "b.py").write_text("b-user\n")  # and after them
    checkpoints = latest_checkpoints(repo, events.append)  # as `heron undo` finds them
    assert checkpoints is not None and [t.label for t in checkpoints.turns()] == ["done one", "done two"]

    result = checkpoints.undo(1)
    assert result.restored == ["a.py"] and result.kept == ["b.py"]
    assert (repo / "a.py").read_text() == "a1\n" and (repo / "b.py").read_text() == "b-user\n"
    result = checkpoints.undo(1)
    assert result.restored == ["a.py"]
    assert (repo / "a.py").read_text() == "a0\n" and not (repo / "a.py").stat().st_mode & 0o100
    assert (repo / "c.py").read_text() == "c-user\n"
    with pytest.raises(NothingToUndo):
        checkpoints.undo(1)
    assert not [e for e in events if isinstance(e, Warning)]


def test_checkpoints_survive_gc_and_need_no_identity(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a\n"})
    git(repo, "config", "--unset", "user.name")
    git(repo, "config", "--unset", "user.email")
    git(repo, "config", "user.useConfigOnly", "true")
    fake_server.script(
        tool_reply(call("shell", command="echo new > new.txt")),
        Reply(text="added new.txt"),
        Reply(text="only looked around"),  # a later session that changes nothing
    )
    cfg = Config(base_url=fake_server.base_url, max_retries=0, approval="full-auto")
    for task in ("add a file", "look around"):
        rt = open_session(cfg, repo, [].append, Role(answer=Answer.NO))
        rt.turn(task)
        rt.close()
    subprocess.run(["git", "gc", "--prune=now", "-q"], cwd=repo, check=True)
    latest = latest_checkpoints(repo, [].append)
    assert latest is not None and [t.label for t in latest.turns()] == ["added new.txt"]
    latest.undo(1)
    assert not (repo / "new.txt").exists()


def test_not_a_repository_undo_uses_heron_journal(tmp_path, home, fake_server):
    work = tmp_path / "plain"
    work.mkdir()
    (work / "a.txt").write_text("before\n")
    fake_server.script(
        tool_reply(call("read_file", path="a.txt")),
        tool_reply(call("edit_file", path="a.txt", old="before", new="after")),
        tool_reply(call("write_file", path="sub/new.txt", content="new\n")),
        tool_reply(call("finish", summary="edited a.txt")),
    )
    result = fix(work, fake_server, home)
    assert result.returncode == 0, result.stderr
    assert "warning: not a git repository: undo covers only the files heron's file tools change" in result.stderr
    assert "a.txt" in result.stdout
    assert not list(work.rglob("*.heron*")) and sorted(p.name for p in work.iterdir()) == ["a.txt", "sub"]
    result = undo(work, home)
    assert result.returncode == 0, result.stderr
    assert (work / "a.txt").read_text() == "before\n" and not (work / "sub/new.txt").exists()
    assert "removed: sub/new.txt" in result.stdout
    assert undo(work, home).returncode == 1


def test_the_model_reads_git_through_its_tools(tmp_path):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    (repo / "a.py").write_text("a = 2\n")
    (repo / "new.py").write_text("n\n")
    ctx = ToolContext(workspace=repo)
    assert git_status.run(git_status.args_model(), ctx).output == "## main\n M a.py\n?? new.py"
    assert "+a = 2" in git_diff.run(git_diff.args_model(path="a.py"), ctx).output
    assert git_diff.run(git_diff.args_model(staged=True), ctx).output == "(no changes)"
    assert git_log.run(git_log.args_model(n=1), ctx).output.endswith("Test  initial")
    assert git_show.run(git_show.args_model(rev="HEAD:a.py"), ctx).output == "a = 1"
    bad = git_show.args_model(rev="nope")
    with pytest.raises(ToolError, match="git show failed: fatal: bad revision 'nope'$"):
        git_show.run(bad, ctx)


def test_a_checkpoint_streams_a_big_file_instead_of_loading_it(tmp_path):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a\n"})
    with open(repo / "big.bin", "wb") as f:
        for _ in range(150):
            f.write(os.urandom(1 << 20))
    snapshot = ("from pathlib import Path; from tools.git import open_repo; "
                "from agent.vcs.checkpoints import snapshot_tree; "
                f"repo = open_repo(Path({str(repo)!r})); print(snapshot_tree(repo, {str(tmp_path / 'index')!r}))")
    proc = subprocess.run(measured([sys.executable, "-c", snapshot], tmp_path / "peak"),
                          stdout=subprocess.PIPE, text=True, check=True)
    tree = proc.stdout.strip()
    assert "big.bin" in git(repo, "ls-tree", "--name-only", tree)
    # The largest of the process and its git runs: git holds a file below core.bigFileThreshold whole.
    peak = peak_kib(tmp_path / "peak") >> 10
    assert peak < 120, f"peak memory: {peak} MiB"
