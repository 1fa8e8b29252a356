"""git in odd states: every command of heron gives a clear answer in each, never a traceback.

Each state is a real repository (or none) built with git itself; each command runs as the real
CLI. A command may refuse (exit 1 or 2 with a `heron:` line saying why) or succeed; it may never
end in a traceback, and a fix that succeeds leaves its edit where the user can see it.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import make_repo, run_heron, write_files
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply

pytestmark = pytest.mark.faults


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env={"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "T",
                               "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin", "HOME": str(repo)}).stdout


def _base(tmp: Path) -> Path:
    repo = tmp / "r"
    make_repo(repo, {"a.py": "def a():\n    return 1\n", "b.py": "import a\n"})
    return repo


def detached_head(tmp: Path) -> Path:
    repo = _base(tmp)
    (repo / "b.py").write_text("import a\nb = 2\n")
    git(repo, "commit", "-qam", "second")
    git(repo, "checkout", "-q", "--detach", "HEAD~1")
    return repo


def _conflict(tmp: Path, how: str) -> Path:
    repo = _base(tmp)
    git(repo, "checkout", "-qb", "other")
    (repo / "a.py").write_text("def a():\n    return 2\n")
    git(repo, "commit", "-qam", "other")
    git(repo, "checkout", "-q", "main")
    (repo / "a.py").write_text("def a():\n    return 3\n")
    git(repo, "commit", "-qam", "main")
    subprocess.run(["git", "-C", str(repo), how, "other"], capture_output=True,
                   env={"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "T",
                        "GIT_COMMITTER_EMAIL": "t@e", "PATH": "/usr/bin:/bin", "HOME": str(repo)})
    assert "<<<<<<<" in (repo / "a.py").read_text()
    return repo


def merge_conflict(tmp: Path) -> Path:
    return _conflict(tmp, "merge")


def rebase_conflict(tmp: Path) -> Path:
    repo = _conflict(tmp, "rebase")
    assert (repo / ".git" / "rebase-merge").exists() or (repo / ".git" / "rebase-apply").exists()
    return repo


def submodule(tmp: Path) -> Path:
    inner = tmp / "inner"
    make_repo(inner, {"lib.py": "def lib():\n    return 1\n"})
    repo = _base(tmp)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner), "vendor/inner")
    git(repo, "commit", "-qm", "add a submodule")
    (repo / "vendor/inner/lib.py").write_text("def lib():\n    return 2\n")  # a change inside it
    return repo


def shallow_clone(tmp: Path) -> Path:
    origin = _base(tmp / "origin")
    for n in range(3):
        (origin / "b.py").write_text(f"import a\nb = {n}\n")
        git(origin, "commit", "-qam", f"change {n}")
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(tmp / "r")], check=True)
    repo = tmp / "r"
    git(repo, "config", "user.name", "T")
    git(repo, "config", "user.email", "t@e")
    assert git(repo, "rev-parse", "--is-shallow-repository").strip() == "true"
    return repo


def lfs_pointers(tmp: Path) -> Path:
    repo = _base(tmp)
    write_files(repo, {
        ".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n",
        "model.bin": "version https://git-lfs.github.com/spec/v1\n"
                     "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
    })
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "an LFS pointer (git-lfs itself not installed)")
    return repo


def linked_worktree(tmp: Path) -> Path:
    repo = _base(tmp)
    git(repo, "worktree", "add", "-q", str(tmp / "linked"), "-b", "side")
    return tmp / "linked"


def no_commits(tmp: Path) -> Path:
    repo = tmp / "r"
    write_files(repo, {"a.py": "def a():\n    return 1\n"})
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "T")
    git(repo, "config", "user.email", "t@e")
    return repo


def staged_in_empty_repo(tmp: Path) -> Path:
    repo = no_commits(tmp)
    git(repo, "add", "a.py")
    return repo


def no_repository(tmp: Path) -> Path:
    repo = tmp / "plain"
    write_files(repo, {"a.py": "def a():\n    return 1\n"})
    return repo


STATES: dict[str, Callable[[Path], Path]] = {
    "detached HEAD": detached_head,
    "merge stopped on conflicts": merge_conflict,
    "rebase stopped on conflicts": rebase_conflict,
    "submodule": submodule,
    "shallow clone": shallow_clone,
    "LFS pointer files": lfs_pointers,
    "linked worktree": linked_worktree,
    "no commits": no_commits,
    "no commits, a file staged": staged_in_empty_repo,
    "no repository": no_repository,
}

# What heron runs, and the model turns it may ask for (a command refused early asks for none).
EDIT = [tool_reply(call("write_file", path="new.py", content="x = 1\n")),
        tool_reply(call("finish", summary="wrote new.py"))]
COMMIT_MESSAGE = [Reply(text="feat: add new.py")]
SERVER = "--base-url {url} --repo {repo}"
COMMANDS: dict[str, tuple[str, list[Reply]]] = {
    "fix": ("fix 'add new.py' --yes --sandbox off " + SERVER, EDIT),
    "fix --commit": ("fix 'add new.py' --yes --sandbox off --commit " + SERVER, EDIT + COMMIT_MESSAGE),
    "fix --branch": ("fix 'add new.py' --yes --sandbox off --branch heron/new " + SERVER, EDIT + COMMIT_MESSAGE),
    "undo": ("undo --repo {repo}", []),
    "review --staged": ("review --staged " + SERVER, [Reply(text="No findings.")] * 4),
    "map": ("map {repo}", []),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("state", STATES)
def test_every_command_answers_clearly_in_every_git_state(tmp_path, home, state, command):
    repo = STATES[state](tmp_path)
    args, replies = COMMANDS[command]
    with FakeOpenAIServer() as server:
        server.script(*replies)
        argv = [part.format(url=server.base_url, repo=repo) for part in shlex.split(args)]
        result = run_heron(argv, home, timeout=240, XDG_STATE_HOME=str(home / "state"))
        surprises = list(server.surprises)
    shown = f"exit {result.returncode}\nstdout:\n{result.stdout[-2000:]}\nstderr:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, shown
    assert result.returncode in (0, 1, 2), shown
    if result.returncode == 2:
        assert result.stderr.startswith("heron: ") and len(result.stderr.strip()) > len("heron: "), shown
    assert not surprises, shown
    if argv[0] == "fix" and result.returncode == 0:
        # The edit is in the tree, or (--branch) committed on the new branch.
        where = git(repo, "show", "heron/new:new.py") if "--branch" in argv else (repo / "new.py").read_text()
        assert where == "x = 1\n", shown
