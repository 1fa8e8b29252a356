"""The second sandbox tier, Landlock and seccomp, through the real shell: the escapes of
test_sandbox.py, each refused, checked from the host side."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Iterator

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


def test_git_hooks_config_and_rc_files_are_read_only(box: LandlockSandbox) -> None:
    config_before = (box.workspace / ".git/config").read_text()
    sh = session(box)
    try:
        result = sh.run(
            "echo 'touch /tmp/pwned' > .git/hooks/pre-commit; git config core.hooksPath /tmp; "
            "echo evil >> .bashrc; ln -s ../../work/evil .git/hooks/post-checkout; "
            "mv work/a.txt .git/hooks/pre-push; mv .git/config .git/config2", 10)
        assert "could not lock config file .git/config" in result.output
        assert result.output.count("Permission denied") + result.output.count("Invalid cross-device link") >= 4
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
    assert warning and "Landlock" in warning and "workspace root" in warning


def test_a_linked_worktrees_git_directory_gets_nothing_new(tmp_path: Path, box: LandlockSandbox) -> None:
    linked = linked_worktree(tmp_path)
    (linked / "work").mkdir()  # new entries go below the workspace root in this tier
    sh = session(dataclasses.replace(box, workspace=linked))
    # Nothing new may appear in a git directory under Landlock, git's lock files included.
    check_git_in_linked_worktree(sh, tmp_path, "work/b.txt", "Permission denied", commits=False)
