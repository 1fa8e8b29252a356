"""The second sandbox tier, Landlock and seccomp, through the real shell: the escapes of
test_sandbox.py, each refused, checked from the host side."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import git
import pytest

from agent.sandbox.choose import choose_sandbox
from agent.sandbox.landlock_tier import LandlockSandbox, landlock_problem
from agent.sandbox.limits import Limits
from agent.sandbox.shell import ShellSession
from tests.conftest import make_repo
from tests.test_sandbox import CONNECT, check_git_in_linked_worktree, linked_worktree, session


@pytest.fixture
def box(tmp_path: Path) -> LandlockSandbox:
    """A Landlock sandbox over a repository at tmp_path/ws with a `work` directory to write in."""
    problem = landlock_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Landlock tests need Landlock under CI: {problem}")
        pytest.skip(problem)
    workspace = tmp_path / "ws"
    make_repo(workspace, {".bashrc": "# mine\n", "work/a.txt": "a\n"})
    sandbox, _ = choose_sandbox("landlock", workspace, network=False)
    assert isinstance(sandbox, LandlockSandbox)
    return sandbox


@pytest.fixture
def sh(box: LandlockSandbox) -> Iterator[ShellSession]:
    shell = session(box)
    yield shell
    shell.close()


def tier(box: LandlockSandbox, mounts: bool) -> LandlockSandbox:
    """The tier with its mount namespace (as root, with idmapped mounts), or with holes as where
    there is none (as root, the shell is then root without capabilities)."""
    if mounts and not box.as_nobody:
        pytest.skip("protecting by mounts needs heron running as root with idmapped mounts")
    return box if mounts else dataclasses.replace(box, as_nobody=False)


REFUSED = ("Permission denied", "Read-only file system", "Device or resource busy", "Invalid cross-device link")


def still_works(sh: ShellSession) -> None:
    assert sh.run("echo ok > work/alive && cat work/alive", 10).output == "ok"


def test_the_workspace_is_writable_and_nothing_else(sh: ShellSession, outside: Path) -> None:
    result = sh.run(f"touch /etc/heron-probe; touch {outside}/x; echo leak > /var/tmp/heron-probe; "
                    "echo t > \"$TMPDIR/t\" && cat \"$TMPDIR/t\"; mkdir -p work/deep && echo d > work/deep/f", 10)
    assert result.output.count("Permission denied") == 3 and result.output.endswith("t")
    assert not Path("/etc/heron-probe").exists() and not (outside / "x").exists()
    assert not Path("/var/tmp/heron-probe").exists()
    assert (sh.cwd / "work/deep/f").read_text() == "d\n"
    still_works(sh)


def test_home_tmp_and_secrets_files_are_unreadable(box: LandlockSandbox, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/id_ed25519").write_text("PRIVATE\n")
    (Path(tempfile.gettempdir()) / f"heron-host-{os.getpid()}").write_text("host tmp\n")
    sh = session(box, {"PATH": os.environ["PATH"], "HOME": str(home)})
    try:
        result = sh.run(f"cat ~/.ssh/id_ed25519 /tmp/heron-host-{os.getpid()} /etc/shadow; python3 -c 'print(6 * 7)'", 10)
        assert "PRIVATE" not in result.output and "host tmp" not in result.output
        assert result.output.count("Permission denied") == 3 and result.output.endswith("42")  # toolchains work
    finally:
        sh.close()
        (Path(tempfile.gettempdir()) / f"heron-host-{os.getpid()}").unlink()


def test_symlink_and_hardlink_escapes(sh: ShellSession, outside: Path) -> None:
    result = sh.run(f"ln -s {outside} work/link && echo changed > work/link/target; "
                    f"ln {outside}/target work/hard; ln /etc/passwd work/hard2", 10)
    assert result.output.count("Permission denied") + result.output.count("Invalid cross-device link") == 3
    assert (outside / "target").read_text() == "original\n"
    assert not (sh.cwd / "work/hard").exists() and not (sh.cwd / "work/hard2").exists()
    still_works(sh)


@pytest.mark.parametrize("mounts", [True, False])
def test_git_hooks_config_and_rc_files_are_read_only(box: LandlockSandbox, mounts: bool) -> None:
    config_before = (box.workspace / ".git/config").read_text()
    sh = session(tier(box, mounts))
    try:
        result = sh.run(
            "echo 'touch /tmp/pwned' > .git/hooks/pre-commit; git config core.hooksPath /tmp; "
            "echo evil >> .bashrc; ln -s ../../work/evil .git/hooks/post-checkout; "
            "mv work/a.txt .git/hooks/pre-push; mv .git/config .git/config2", 10)
        assert "config file .git/config" in result.output and "could not" in result.output
        assert sum(result.output.count(word) for word in REFUSED) >= 5
        assert sh.run("git status --short && git log --format=%s -1", 10).output == "initial"
        still_works(sh)
    finally:
        sh.close()
    assert (box.workspace / ".git/config").read_text() == config_before
    assert sorted(p.name for p in (box.workspace / ".git/hooks").iterdir() if not p.name.endswith(".sample")) == []
    assert (box.workspace / ".bashrc").read_text() == "# mine\n"


def test_no_capabilities_no_mount_and_no_signals_to_heron(sh: ShellSession) -> None:
    result = sh.run(f"grep CapEff /proc/self/status; mount -t tmpfs none work; echo rc=$?; "
                    f"kill -0 {os.getpid()}; echo kill=$?; cat /proc/{os.getpid()}/environ", 10)
    assert result.output.splitlines()[0].split()[1] == "0000000000000000"
    assert "rc=32" in result.output and "kill=1" in result.output
    assert "HOME=" not in result.output
    still_works(sh)


def test_no_network_unix_sockets_or_vsock(sh: ShellSession, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as tcp, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.bind(str(tmp_path / "host.sock"))
        unix.listen()
        result = sh.run(CONNECT.format(port=tcp.getsockname()[1]), 10)
        assert result.exit_code == 1 and "Address family not supported" in result.output
        result = sh.run(f"python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{tmp_path}/host.sock\")'", 10)
        assert result.exit_code == 1 and "Address family not supported" in result.output
    result = sh.run("python3 -c 'import asyncio; print(asyncio.run(asyncio.sleep(0, \"loop ok\")))'", 10)
    assert result.output == "loop ok"


def test_a_fork_bomb_is_contained_and_the_private_tmp_removed(box: LandlockSandbox) -> None:
    sh = session(dataclasses.replace(box, limits=Limits(max_processes=64)))
    try:
        tmp = Path(sh.run("echo $TMPDIR", 10).output)
        assert tmp.is_dir() and not sh.problems, sh.problems
        result = sh.run("bomb() { bomb | bomb & }; bomb; sleep 2", 10)
        assert "process limit" in result.stopped and "killed" in result.stopped
        still_works(sh)
    finally:
        sh.close()
    assert not tmp.exists()


def test_auto_prefers_bubblewrap_and_landlock_says_what_it_cannot_do(tmp_path: Path) -> None:
    auto, _ = choose_sandbox("auto", tmp_path, network=False)
    landlock, warning = choose_sandbox("landlock", tmp_path, network=False)
    assert type(auto).__name__ == "Sandbox" if shutil.which("bwrap") else isinstance(auto, LandlockSandbox)
    assert isinstance(landlock, LandlockSandbox)
    assert warning and "Landlock" in warning
    assert ("workspace root" in warning) == (not landlock.as_nobody)  # where it has no mounts


@pytest.mark.parametrize("mounts", [True, False])
def test_a_linked_worktrees_git_directory_gets_nothing_new(tmp_path: Path, box: LandlockSandbox, mounts: bool) -> None:
    linked = linked_worktree(tmp_path)
    (linked / "work").mkdir()  # without mounts, new entries go below the workspace root
    sh = session(dataclasses.replace(tier(box, mounts), workspace=linked))
    # Without mounts nothing new may appear in a git directory, git's lock files included.
    check_git_in_linked_worktree(sh, tmp_path, "work/b.txt", "Read-only file system" if mounts else "Permission denied",
                                 commits=mounts)


def test_with_mounts_the_root_takes_new_entries_and_git_commits_into_the_repository(box: LandlockSandbox) -> None:
    ws = tier(box, mounts=True).workspace
    shutil.rmtree(ws / ".git/hooks")
    config_before = (ws / ".git/config").read_text()
    sh = session(box)
    try:
        result = sh.run("touch new.txt && mkdir build && rm new.txt && echo b > b.txt && git add -A && "
                        "git -c user.name=t -c user.email=t@t commit -qm x && git log --format=%s -1", 20)
        assert result.output == "x" and not result.hint
        result = sh.run("echo x > .envrc; mkdir .git/hooks && echo 'touch /tmp/pwned' > .git/hooks/pre-commit; "
                        "echo x >> .git/config; git config core.fsmonitor 'touch /tmp/pwned'; "
                        "echo ../evil > .git/commondir; echo evil >> .bashrc", 10)
        assert ".envrc: Is a directory" in result.output and result.output.count("Read-only file system") >= 2
        # The shell, without capabilities and under Landlock, cannot undo a mount.
        result = sh.run("umount .bashrc; umount -l .git; mount -o remount,bind,rw .bashrc; "
                        "mv .git .git-moved; rmdir .vscode; unshare -Urm umount -l .bashrc; echo evil >> .bashrc", 10)
        assert "Device or resource busy" in result.output and result.output.endswith("Read-only file system")
    finally:
        sh.close()
    repo = git.Repo(ws)
    assert repo.head.commit.message.strip() == "x" and not repo.is_dirty(untracked_files=True)
    assert (ws / "build").is_dir()
    assert (ws / ".git/config").read_text() == config_before and (ws / ".bashrc").read_text() == "# mine\n"
    for made in (".git/hooks", ".git/commondir", ".envrc", ".vscode", ".git-moved"):
        assert not (ws / made).exists(), made


def test_without_mounts_a_refused_entry_at_the_root_is_explained(box: LandlockSandbox) -> None:
    sh = session(tier(box, mounts=False))
    try:
        result = sh.run("touch new.txt", 10)
        assert result.exit_code == 1 and "Permission denied" in result.output
        assert "mount namespace" in result.hint and "subdirectory" in result.hint and "bubblewrap" in result.hint
        result = sh.run("git -c user.name=t -c user.email=t@t commit -q --allow-empty -m x", 10)
        assert "index.lock" in result.output and "mount namespace" in result.hint
        result = sh.run("touch work/new.txt && cat /etc/shadow", 10)  # refused, but not by a hole
        assert "Permission denied" in result.output and result.hint == ""
    finally:
        sh.close()
    assert (box.workspace / "work/new.txt").exists() and not (box.workspace / "new.txt").exists()


def test_with_mounts_a_workspace_of_another_user_takes_commits_and_stays_theirs(
        box: LandlockSandbox, request: pytest.FixtureRequest) -> None:
    tier(box, mounts=True)
    # Where the user's own workspace would be: not below a directory only root may pass.
    base = Path(tempfile.mkdtemp(dir="/var/tmp", prefix="heron-owned-"))
    request.addfinalizer(lambda: shutil.rmtree(base))
    base.chmod(0o755)
    ws = base / "ws"
    make_repo(ws, {"a.txt": "a\n"})
    subprocess.run(["chown", "-R", "1000:1000", str(ws)], check=True)
    sh = session(dataclasses.replace(box, workspace=ws), {"PATH": os.environ["PATH"], "HOME": str(base)})
    try:
        result = sh.run("echo b > b.txt && git add -A && git -c user.name=t -c user.email=t@t commit -qm x && "
                        "git log --format=%s -1", 20)
        assert result.output == "x"
    finally:
        sh.close()
    assert (ws / "b.txt").stat().st_uid == 1000
    assert subprocess.run(["git", "-c", "safe.directory=*", "log", "--format=%s", "-1"], cwd=ws,
                          capture_output=True, text=True).stdout == "x\n"
