"""`heron hook`: the installed hook run by a real `git commit`, chaining, core.hooksPath, uninstall."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pre_commit.clientlib import load_manifest

from agent.review.hook import MARKER
from tests.conftest import ROOT, heron_env, make_repo, run_heron
from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_review_cli import AFTER, BEFORE, BUG, git, reports

OLD_HOOK = "#!/bin/sh\necho chained-hook-ran >> \"$(git rev-parse --show-toplevel)/chained.log\"\nexit ${OLD_HOOK_EXIT:-0}\n"


def repo_with_bug(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    make_repo(repo, {"bank.py": BEFORE})
    (repo / "bank.py").write_text(AFTER)
    git(repo, "add", "bank.py")
    return repo


def commit(repo: Path, home: Path, server: FakeOpenAIServer, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", "-m", "withdraw checks the balance", *flags], cwd=repo,
                          capture_output=True, text=True, timeout=120,
                          env=heron_env(home, HERON_BASE_URL=server.base_url, **env))


def commits(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


def hook(repo: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_heron(["hook", *args, "--repo", str(repo)], home)


def test_the_hook_blocks_a_commit_with_a_blocker_and_lets_the_fixed_one_through(tmp_path, home, fake_server):
    repo = repo_with_bug(tmp_path)
    installed = hook(repo, home, "install")
    assert installed.returncode == 0, installed.stderr
    pre_commit = repo / ".git/hooks/pre-commit"
    assert installed.stdout.strip() == f"heron review is the pre-commit hook in {pre_commit}"
    assert os.access(pre_commit, os.X_OK) and MARKER in pre_commit.read_text()

    fake_server.script(*reports(BUG))
    blocked = commit(repo, home, fake_server)
    assert blocked.returncode != 0
    assert "bank.py:9: blocker [bug] withdraw returns one more than the balance" in blocked.stdout + blocked.stderr
    assert commits(repo) == 1

    (repo / "bank.py").write_text(AFTER.replace("self.balance + 1", "self.balance"))
    git(repo, "add", "bank.py")
    fake_server.script(*reports())
    passed = commit(repo, home, fake_server)
    assert passed.returncode == 0, passed.stderr
    assert commits(repo) == 2
    assert "heron review: 1 file, 0 blockers" in passed.stderr


def test_skipping_the_hook(tmp_path, home, fake_server):
    repo = repo_with_bug(tmp_path)
    assert hook(repo, home, "install").returncode == 0
    assert commit(repo, home, fake_server, HERON_SKIP="1").returncode == 0
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "README.md")
    assert commit(repo, home, fake_server, "--no-verify").returncode == 0
    assert commits(repo) == 3 and not fake_server.chat_requests


def test_with_nothing_staged_the_hook_does_not_start_heron(tmp_path, home, fake_server):
    repo = tmp_path / "repo"
    make_repo(repo, {"a.txt": "a\n"})
    assert hook(repo, home, "install").returncode == 0
    empty = commit(repo, home, fake_server, "--allow-empty")
    assert empty.returncode == 0 and "heron review" not in empty.stderr  # no summary line: it never ran
    (repo / "a.txt").write_text("b\n")
    git(repo, "add", "a.txt")
    fake_server.script(*reports())
    staged = commit(repo, home, fake_server)
    assert staged.returncode == 0 and "heron review: 1 file, 0 blockers" in staged.stderr
    assert commits(repo) == 3


def test_an_existing_hook_is_chained_and_restored(tmp_path, home, fake_server):
    repo = repo_with_bug(tmp_path)
    old = repo / ".git/hooks/pre-commit"
    old.write_text(OLD_HOOK)
    old.chmod(0o755)
    installed = hook(repo, home, "install", "--fail-on", "warning")
    assert installed.returncode == 0, installed.stderr
    assert "the hook that was there runs first (kept as pre-commit.heron-chained)" in installed.stdout
    assert "--fail-on warning" in old.read_text()

    # The old hook fails: the commit stops there, before any review.
    refused = commit(repo, home, fake_server, OLD_HOOK_EXIT="1")
    assert refused.returncode != 0 and commits(repo) == 1 and not fake_server.chat_requests
    # The old hook passes: the review runs after it, and a warning now blocks.
    fake_server.script(*reports(dict(BUG, severity="warning")))
    warned = commit(repo, home, fake_server)
    assert warned.returncode != 0 and commits(repo) == 1
    assert (repo / "chained.log").read_text() == "chained-hook-ran\nchained-hook-ran\n"

    again = hook(repo, home, "install")
    assert again.returncode == 2 and "already heron's hook; `heron hook install --force` rewrites it" in again.stderr
    assert hook(repo, home, "install", "--force").returncode == 0
    assert "--fail-on blocker" in old.read_text()

    removed = hook(repo, home, "uninstall")
    assert removed.returncode == 0, removed.stderr
    assert old.read_text() == OLD_HOOK and os.access(old, os.X_OK)
    assert not (repo / ".git/hooks/pre-commit.heron-chained").exists()
    assert hook(repo, home, "uninstall").returncode == 2  # the old hook is not heron's to remove


def test_core_hooks_path_is_honoured(tmp_path, home, fake_server):
    repo = repo_with_bug(tmp_path)
    git(repo, "config", "core.hooksPath", "githooks")
    assert hook(repo, home, "install").returncode == 0
    assert MARKER in (repo / "githooks/pre-commit").read_text()
    assert not (repo / ".git/hooks/pre-commit").exists()
    fake_server.script(*reports(BUG))
    assert commit(repo, home, fake_server).returncode != 0 and commits(repo) == 1
    removed = hook(repo, home, "uninstall")
    assert removed.returncode == 0 and not (repo / "githooks/pre-commit").exists()
    assert "nothing to remove" in hook(repo, home, "uninstall").stdout


def test_an_unreachable_server_does_not_block_the_commit(tmp_path, home):
    repo = repo_with_bug(tmp_path)
    assert hook(repo, home, "install").returncode == 0
    result = subprocess.run(["git", "commit", "-m", "offline"], cwd=repo, capture_output=True, text=True,
                            timeout=120, env=heron_env(home, HERON_BASE_URL="http://127.0.0.1:9/v1",
                                                       HERON_MODEL="m"))
    assert result.returncode == 0, result.stderr
    assert "heron review: warning: cannot reach the model server" in result.stderr
    assert commits(repo) == 2


def test_the_pre_commit_framework_manifest():
    hooks = load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))
    assert [(h["id"], h["entry"], h["language"], h["pass_filenames"]) for h in hooks] == \
        [("heron-review", "heron review --staged", "python", False)]
