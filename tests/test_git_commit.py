"""Auto-commit, --branch, --worktree and the repository states heron refuses or warns about.

The real CLI as a subprocess, the fake server, real repositories with real hooks.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import git as gitpython

from agent.vcs.commit import parse_message, shorten
from tests.conftest import make_repo
from tests.fakes.openai_server import Reply, call, tool_reply
from tests.test_git_undo import fix, git, undo

MESSAGE = Reply(text="fix(a): bump a to three\n\nThe value was stale.")


def editing_script() -> list[Reply]:
    return [
        tool_reply(call("read_file", path="a.py")),
        tool_reply(call("edit_file", path="a.py", old="a = 1", new="a = 3")),
        tool_reply(call("shell", command="echo 'n = 1' > new.py && rm b.py")),
        tool_reply(call("finish", summary="bumped a")),
    ]


def hook(repo: Path, name: str, body: str) -> None:
    path = Path(repo.resolve(), ".git", "hooks", name)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_commit_takes_the_agents_changes_only_and_runs_the_hooks(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n", "b.py": "b = 1\n", "mine.py": "m = 1\n"})
    (repo / "mine.py").write_text("m = 2  # the user's work in progress\n")
    (repo / "notes.txt").write_text("the user's own\n")
    hook(repo, "pre-commit", f"echo ran >> '{tmp_path}/pre-commit.ran'")
    hook(repo, "commit-msg", f"cp \"$1\" '{tmp_path}/commit-msg.seen'")
    fake_server.script(*editing_script(), MESSAGE)
    result = fix(repo, fake_server, home, "--commit")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pre-commit.ran").read_text() == "ran\n"
    assert (tmp_path / "commit-msg.seen").read_text().startswith("fix(a): bump a to three")
    assert git(repo, "log", "-1", "--format=%B") == (
        "fix(a): bump a to three\n\nThe value was stale.\n\nAssisted-by: heron (fake-model)\n\n")
    assert git(repo, "show", "--name-status", "--format=", "HEAD").split() == ["M", "a.py", "D", "b.py", "A", "new.py"]
    assert git(repo, "status", "--porcelain") == " M mine.py\n?? notes.txt\n"
    assert "committed" in result.stderr and "on main: fix(a): bump a to three" in result.stderr
    # The model was asked on top of the session's history, with the diff to describe.
    asked, before = fake_server.chat_requests[-1]["messages"], fake_server.chat_requests[-2]["messages"]
    assert asked[:len(before)] == before
    assert "+a = 3" in asked[-1]["content"] and "mine.py" not in asked[-1]["content"]


def test_a_file_with_the_users_changes_is_left_uncommitted(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\nz = 0\n", "b.py": "b = 1\n"})
    (repo / "a.py").write_text("a = 1\nz = 9  # the user's\n")
    (repo / "heron.toml").write_text("auto_commit = true\n")  # the config key, instead of --commit
    fake_server.script(*editing_script(), MESSAGE)
    result = fix(repo, fake_server, home)
    assert result.returncode == 0, result.stderr
    assert "left uncommitted, as they also hold your own uncommitted changes: a.py" in result.stderr
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["b.py", "new.py"]
    assert (repo / "a.py").read_text() == "a = 3\nz = 9  # the user's\n"
    assert git(repo, "status", "--porcelain") == " M a.py\n?? heron.toml\n"


def test_a_rejecting_hook_leaves_the_changes_uncommitted_and_exits_1(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    hook(repo, "pre-commit", "echo 'lint says no' >&2; exit 1")
    fake_server.script(*editing_script(), MESSAGE)
    result = fix(repo, fake_server, home, "--commit")
    assert result.returncode == 1
    assert "git commit failed, the changes are left uncommitted: lint says no" in result.stderr
    assert git(repo, "log", "--format=%s") == "initial\n"
    assert git(repo, "status", "--porcelain") == " M a.py\n D b.py\n?? new.py\n"


def test_branch_commits_on_a_new_branch_and_leaves_the_users_checkout_alone(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    (repo / "a.py").write_text("a = 1  # the user's edit\n")
    hook(repo, "pre-commit", f"pwd >> '{tmp_path}/pre-commit.ran'")
    before = {p.name: p.read_text() for p in repo.iterdir() if p.is_file()}
    fake_server.script(
        tool_reply(call("read_file", path="a.py")),
        tool_reply(call("edit_file", path="a.py", old="a = 1", new="a = 3")),
        tool_reply(call("shell", command="echo 'n = 1' > new.py && rm b.py")),
        tool_reply(call("finish", summary="bumped a")), MESSAGE,
    )
    result = fix(repo, fake_server, home, "--branch", "heron/bump")
    assert result.returncode == 0, result.stderr
    assert "the result is committed on branch heron/bump" in result.stdout
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main\n"
    assert {p.name: p.read_text() for p in repo.iterdir() if p.is_file()} == before
    assert git(repo, "status", "--porcelain") == " M a.py\n"
    assert git(repo, "log", "-1", "--format=%s", "heron/bump") == "fix(a): bump a to three\n"
    assert git(repo, "show", "heron/bump:a.py") == "a = 3\n"
    assert git(repo, "show", "--name-status", "--format=", "heron/bump").split() == ["M", "a.py", "D", "b.py", "A", "new.py"]
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # the temporary worktree is gone
    assert git(repo, "for-each-ref", "refs/heron") == ""  # and so is its session
    assert (tmp_path / "pre-commit.ran").exists()


def test_worktree_leaves_a_committed_worktree_beside_the_repo(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    fake_server.script(*editing_script(), MESSAGE)
    result = fix(repo, fake_server, home, "--worktree")
    assert result.returncode == 0, result.stderr
    place = tmp_path / "r-heron-tidy-up"
    assert f"the worktree is at {place}" in result.stdout
    assert (place / "a.py").read_text() == "a = 3\n" and not (place / "b.py").exists()
    assert git(place, "status", "--porcelain") == ""
    assert git(place, "log", "-1", "--format=%s") == "fix(a): bump a to three\n"
    assert git(place, "rev-parse", "--abbrev-ref", "HEAD") == "heron/tidy-up\n"
    assert (repo / "a.py").read_text() == "a = 1\n" and git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main\n"


def test_commit_needs_a_repository_and_a_branch(tmp_path, home, fake_server):
    plain = tmp_path / "plain"
    plain.mkdir()
    result = fix(plain, fake_server, home, "--commit")
    assert result.returncode == 2 and "is not a git repository: --commit, --branch and --worktree need one" in result.stderr
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    git(repo, "checkout", "-q", "--detach")
    result = fix(repo, fake_server, home, "--commit")
    assert result.returncode == 2
    assert "HEAD is detached at" in result.stderr and "use --branch NAME" in result.stderr
    result = fix(repo, fake_server, home, "--branch", "bad..name")
    assert result.returncode == 2 and "--branch 'bad..name': not a valid branch name" in result.stderr
    assert "Traceback" not in result.stderr


def test_detached_head_still_checkpoints_and_undoes(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    git(repo, "checkout", "-q", "--detach")
    fake_server.script(*editing_script())
    assert fix(repo, fake_server, home).returncode == 0
    assert undo(repo, home).returncode == 0
    assert git(repo, "status", "--porcelain") == ""


def test_merge_in_progress_warns_and_refuses_to_commit(tmp_path, home, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "a.py").write_text("a = 'other'\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "a.py").write_text("a = 'main'\n")
    git(repo, "commit", "-qam", "main")
    subprocess.run(["git", "merge", "other"], cwd=repo, capture_output=True)
    assert (repo / ".git/MERGE_HEAD").exists()
    result = fix(repo, fake_server, home, "--commit")
    assert result.returncode == 2
    assert "a merge is in progress in" in result.stderr and "--commit would mix" in result.stderr
    fake_server.script(tool_reply(call("write_file", path="c.py", content="c\n")), Reply(text="added c.py"))
    result = fix(repo, fake_server, home)
    assert result.returncode == 0, result.stderr
    assert "warning: a merge is in progress" in result.stderr
    assert undo(repo, home).returncode == 0 and not (repo / "c.py").exists()
    assert (repo / ".git/MERGE_HEAD").exists()


def test_submodules_get_a_warning(tmp_path, home, fake_server):
    lib = tmp_path / "lib"
    make_repo(lib, {"lib.py": "x\n"})
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a\n"})
    subprocess.run(["git", "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib"],
                   cwd=repo, check=True, capture_output=True)
    git(repo, "commit", "-qm", "add lib")
    fake_server.script(Reply(text="nothing to do"))
    result = fix(repo, fake_server, home)
    assert result.returncode == 0, result.stderr
    assert "warning: changes inside submodules (vendor/lib) are not checkpointed" in result.stderr


def test_bare_repository_is_refused(tmp_path, home, fake_server):
    bare = tmp_path / "bare.git"
    gitpython.Repo.init(bare, bare=True)
    for result in (fix(bare, fake_server, home), undo(bare, home)):
        assert result.returncode == 2
        assert "is a bare repository (no working tree)" in result.stderr
        assert "Traceback" not in result.stderr


def test_commit_messages_are_conventional_and_short():
    assert parse_message("```\nfix: x\n```") == ("fix: x", "")
    assert parse_message("Add the widget\n\nBecause.") == ("chore: add the widget", "Because.")
    subject, _ = parse_message("feat(parser): " + "word " * 30)
    assert len(subject) <= 72 and subject.startswith("feat(parser): word") and not subject.endswith(" ")
    assert parse_message("") == ("", "")
    assert len(shorten("x" * 100)) == 72
