"""Escapes a model might try from the sandboxed shell, each refused, with the shell working after.

Everything runs in the real bubblewrap sandbox, and every effect is checked from the host side.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
from pathlib import Path
from typing import Iterator

import git
import pytest

from agent.sandbox import gitlinks
from agent.sandbox.bubblewrap import Mounts, Sandbox, ShellSandbox
from agent.sandbox.limits import Limits
from agent.sandbox.protect import Protection
from agent.sandbox.shell import ShellSession
from tests.conftest import make_repo

CONNECT = "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=3); print(\"connected\")'"


def session(box: ShellSandbox, env: dict[str, str] | None = None) -> ShellSession:
    return ShellSession(box.workspace, env=env, sandbox=box, idle_timeout=30)


@pytest.fixture
def sh(sandbox: Sandbox) -> Iterator[ShellSession]:
    shell = session(sandbox)
    yield shell
    shell.close()


def still_works(sh: ShellSession) -> None:
    assert sh.run("echo ok > alive && cat alive", 10).output == "ok"


def test_writes_outside_the_workspace_do_not_reach_the_host(sh: ShellSession, outside: Path) -> None:
    result = sh.run(f"touch /etc/heron-probe; touch {outside}/x; echo leak > /tmp/heron-probe; "
                    "echo h > ~/in-home; cat /tmp/heron-probe ~/in-home", 10)
    assert "Read-only file system" in result.output
    assert result.output.endswith("leak\nh")  # the private /tmp and the empty home are writable
    assert not Path("/etc/heron-probe").exists() and not (outside / "x").exists()
    assert not Path("/tmp/heron-probe").exists()
    assert not (Path.home() / "in-home").exists()
    still_works(sh)


def test_symlink_and_hardlink_escapes(sh: ShellSession, outside: Path) -> None:
    result = sh.run(f"ln -s {outside} link && echo changed > link/target; "
                    f"ln {outside}/target hard; ln /etc/passwd hard2", 10)
    # As root, the sandbox runs as nobody, who cannot even reach the (mode 0700) outside directory.
    assert "Read-only file system" in result.output or "Permission denied" in result.output
    assert result.output.count("Invalid cross-device link") + result.output.count("Permission denied") >= 2
    assert (outside / "target").read_text() == "original\n"
    assert not (sh.cwd / "hard").exists()
    still_works(sh)


def test_git_hooks_config_and_rc_files_are_read_only(sandbox: Sandbox) -> None:
    make_repo(sandbox.workspace, {".bashrc": "# mine\n", "a.txt": "a\n"})
    config_before = (sandbox.workspace / ".git/config").read_text()
    sh = session(sandbox)
    try:
        result = sh.run(
            "echo 'touch /tmp/pwned' > .git/hooks/pre-commit; git config core.hooksPath /tmp; "
            "git config core.fsmonitor 'touch /tmp/pwned'; echo evil >> .bashrc; rm -rf .git/hooks; "
            "mv .git .git-moved; mv .git/config .git/config2", 10)
        assert result.output.count("Read-only file system") >= 2
        assert "could not write config file .git/config" in result.output
        assert "Device or resource busy" in result.output
        # git itself still works inside: the index and objects are writable.
        assert sh.run("echo b > b.txt && git add b.txt && git -c user.name=t -c user.email=t@t commit -qm x && git log --format=%s -1", 10).output == "x"
        still_works(sh)
    finally:
        sh.close()
    assert (sandbox.workspace / ".git/config").read_text() == config_before
    assert not (sandbox.workspace / ".git/hooks/pre-commit").exists()
    assert (sandbox.workspace / ".bashrc").read_text() == "# mine\n"


def test_no_root_no_capabilities_and_remount_fails(sh: ShellSession) -> None:
    result = sh.run("id -u; grep CapEff /proc/self/status; mount -o remount,bind,rw /; echo rc=$?; "
                    "unshare -U true; echo userns=$?", 10)
    lines = result.output.splitlines()
    assert lines[0] != "0"
    assert lines[1].split()[1] == "0000000000000000"
    assert "rc=32" in result.output and "userns=1" in result.output
    assert sh.run("touch /etc/heron-remount-probe", 10).exit_code == 1
    assert not Path("/etc/heron-remount-probe").exists()
    still_works(sh)


def test_no_network_unix_sockets_or_vsock(sh: ShellSession, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as tcp, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        port = tcp.getsockname()[1]
        unix.bind(str(tmp_path / "host.sock"))
        unix.listen()
        result = sh.run(CONNECT.format(port=port), 10)
        assert result.exit_code == 1 and "connected" not in result.output
        result = sh.run(f"python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{tmp_path}/host.sock\")'", 10)
        assert result.exit_code == 1 and "Address family not supported" in result.output
        result = sh.run("python3 -c 'import socket; socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)'", 10)
        assert result.exit_code == 1 and "Address family not supported" in result.output
    # What the filter must not break: asyncio's loop (a socketpair) and git.
    result = sh.run("python3 -c 'import asyncio; print(asyncio.run(asyncio.sleep(0, \"loop ok\")))' && git --version", 10)
    assert result.exit_code == 0 and result.output.startswith("loop ok\ngit version")
    still_works(sh)


def test_network_when_configured(sandbox: Sandbox) -> None:
    with socket.create_server(("127.0.0.1", 0)) as tcp:
        threading.Thread(target=tcp.accept, daemon=True).start()
        sh = session(dataclasses.replace(sandbox, network=True))
        try:
            assert sh.run(CONNECT.format(port=tcp.getsockname()[1]), 10).output == "connected"
        finally:
            sh.close()


def test_secrets_in_the_environment_do_not_enter(sandbox: Sandbox) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(sandbox.workspace.parent / "home"),
           "GITHUB_TOKEN": "ghp_s3cr3tvalue", "AWS_SECRET_ACCESS_KEY": "aws-s3cr3t", "LANG": "C.UTF-8"}
    sh = session(sandbox, env)
    try:
        result = sh.run("env; cat /proc/1/environ /proc/self/environ | tr '\\0' '\\n'", 10)
        assert "s3cr3t" not in result.output
        assert "LANG=C.UTF-8" in result.output
    finally:
        sh.close()


def test_a_fork_bomb_is_contained_and_stopped(sandbox: Sandbox) -> None:
    sh = session(dataclasses.replace(sandbox, limits=Limits(max_processes=64)))
    try:
        assert not sh.problems, sh.problems
        result = sh.run("bomb() { bomb | bomb & }; bomb; sleep 2", 10)
        assert "process limit" in result.stopped and "killed" in result.stopped
        still_works(sh)
        assert sh.run("ps -e --no-headers | wc -l", 10).output == "4"  # init, bash, ps, wc
    finally:
        sh.close()


def test_file_size_limit(sandbox: Sandbox) -> None:
    sh = session(dataclasses.replace(sandbox, limits=Limits(max_file_bytes=1 << 20)))
    try:
        result = sh.run("head -c 2000000 /dev/zero > big", 10)
        # SIGXFSZ is ignored in the shell: the writer gets EFBIG and says so, nothing is killed.
        assert result.exit_code == 1 and "File too large" in result.output
        assert (sandbox.workspace / "big").stat().st_size == 1 << 20
        still_works(sh)
    finally:
        sh.close()


def test_memory_limit_kills_the_hog_not_the_shell(sandbox: Sandbox) -> None:
    sh = session(dataclasses.replace(sandbox, limits=Limits(max_memory_bytes=64 << 20)))
    try:
        assert not sh.problems, sh.problems
        result = sh.run("python3 -c 'x = bytearray(256 << 20); print(len(x))'", 20)
        assert result.exit_code == 137 and "268435456" not in result.output  # SIGKILL by the OOM killer
        still_works(sh)
    finally:
        sh.close()


def test_the_argv_is_plain_data(tmp_path: Path) -> None:
    make_repo(tmp_path / "ws", {".bashrc": "# rc\n"})
    box = Sandbox(tmp_path / "ws")
    protection = Protection.create(box.workspace)
    shadow = protection.shadows[0]
    try:
        argv = box.argv(["bash"], {"HOME": "/root", "PATH": "/usr/bin"}, as_root=True,
                        mounts=Mounts(protection.binds()))
    finally:
        protection.close()
    text = " ".join(argv)
    git_dir = box.workspace / ".git"
    # The stand-in over .git first, then git's data writable and all else read-only inside it.
    assert f"--bind {shadow.copy} {git_dir}" in text
    assert f"--bind {git_dir}/objects {git_dir}/objects" in text and f"--bind {git_dir}/refs {git_dir}/refs" in text
    for flags in ("--ro-bind / /", "--tmpfs /run", "--perms 0700 --tmpfs /root", "--unshare-net",
                  "--unshare-user --cap-drop ALL --disable-userns --uid 1000 --gid 1000",
                  "--seccomp 100", "--new-session", "--die-with-parent", f"--chdir {box.workspace} -- bash"):
        assert flags in text, flags
    assert f"{git_dir}/HEAD" not in text  # a copy in the stand-in, synced back by heron
    for protected in (".git/hooks", ".git/config", ".git/description", ".bashrc"):
        path = box.workspace / protected
        assert f"--ro-bind {path} {path}" in text
    for missing in (".envrc", ".vscode", ".idea"):  # an empty stand-in, for the session only
        assert f"--ro-bind {protection.empty} {box.workspace / missing}" in text
        assert not (box.workspace / missing).exists()
    assert "--unshare-net" not in dataclasses.replace(box, network=True).argv(["bash"], {}, as_root=True)
    assert "--uid" not in box.argv(["bash"], {}, as_root=False)


def linked_worktree(tmp_path: Path) -> Path:
    """A worktree whose repository lies outside it, under the /tmp the sandbox hides."""
    main = tmp_path / "main"
    make_repo(main, {"a.txt": "a\n"})
    git.Repo(main).git.worktree("add", "-q", "-b", "side", str(tmp_path / "linked"))
    return (tmp_path / "linked").resolve()


def check_git_in_linked_worktree(sh: ShellSession, tmp_path: Path, new_file: str, refusal: str,
                                 commits: bool = True) -> None:
    """Git commits from inside (where the tier can let git make its lock files); the repository's
    hooks and config stay as they were."""
    try:
        result = sh.run(f"echo b > {new_file} && git add {new_file} && git -c user.name=t -c user.email=t@t "
                        "commit -qm b && git log --format=%s -2 | tr '\\n' ' '", 20)
        assert result.output == "b initial " if commits else "index.lock': Permission denied" in result.output
        result = sh.run(f"echo evil > {tmp_path}/main/.git/hooks/pre-commit; git config core.hooksPath /tmp", 10)
        assert refusal in result.output and "could not" in result.output
    finally:
        sh.close()
    assert not (tmp_path / "main/.git/hooks/pre-commit").exists()
    assert "hooksPath" not in (tmp_path / "main/.git/config").read_text()


def test_git_works_in_a_linked_worktree_and_its_repository_hooks_stay_read_only(tmp_path: Path, sandbox: Sandbox) -> None:
    linked = linked_worktree(tmp_path)
    sh = session(dataclasses.replace(sandbox, workspace=linked))
    check_git_in_linked_worktree(sh, tmp_path, "b.txt", "Read-only file system")


def test_a_gitlinks_mode_is_found_where_the_pieces_an_index_is_searched_in_meet() -> None:
    index = bytearray(3 << 20)
    assert not gitlinks._may_hold_gitlink(bytes(index))
    index[(1 << 20) - 2 : (1 << 20) + 2] = gitlinks.GITLINK_MODE  # across the first megabyte's end
    assert gitlinks._may_hold_gitlink(bytes(index))
