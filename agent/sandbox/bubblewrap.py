"""The bubblewrap sandbox of the shell: its argv as plain data, its seccomp filter, its launch.

Inside: the whole filesystem read-only, the workspace writable except for what would run code
outside the sandbox (git metadata beyond git's data, by allow-list: gitmeta.py; the git
directories below the workspace that were there before: nested.py; what host tools run from a
workspace: workspace.HOST_EXECUTED), a private size-capped /tmp, an empty home, /run
hidden, no network unless configured, a new session and PID namespace, and no privilege: the
sandbox runs as uid 1000 in a user namespace with every capability dropped and no further user
namespaces, and when heron runs as root, as the host's `nobody` (identity.py), never as root.
A seccomp filter refuses Unix and vsock sockets (the network namespace does not cover a host
service's socket file, nor the VM's channel to its host) and io_uring (which bypasses seccomp).
"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from agent.sandbox.identity import Identity, idmap_problem
from agent.sandbox.limits import CgroupSet, Limits, set_rlimits
from agent.sandbox.protect import Bind, Protection
from agent.secrets import is_secret_name

# The fd bwrap reads its seccomp program from; fixed, because the child opens it after fork.
SECCOMP_FD = 100
SANDBOX_UID = 1000
AF_UNIX, AF_INET, AF_INET6, AF_VSOCK = 1, 2, 10, 40


@dataclass(frozen=True)
class Mounts:
    """What a launch prepared on the host for bwrap to bind over the workspace (protect.py), and
    where bwrap finds each host path (under the unprivileged identity's staging, when heron runs
    as root)."""

    binds: Sequence[Bind] = ()
    view: Callable[[Path], str] = str


@dataclass(frozen=True)
class Sandbox:
    """Where and how the shell is confined. Plain data: `argv` is all bubblewrap is told."""

    workspace: Path
    network: bool = False
    tmp_bytes: int = 1 << 30
    limits: Limits = field(default_factory=Limits)
    bwrap: str = "bwrap"

    def argv(self, command: list[str], env: Mapping[str, str], as_root: bool,
             seccomp: bool = True, mounts: Mounts = Mounts()) -> list[str]:
        ws, view = self.workspace, mounts.view
        args = [
            self.bwrap,
            "--ro-bind", "/", "/",
            "--dev", "/dev",
            "--proc", "/proc",
            "--size", str(self.tmp_bytes), "--tmpfs", "/tmp",
            "--tmpfs", "/run",
        ]
        for home in homes(env):
            if home != Path("/"):
                args += ["--perms", "0700", "--tmpfs", str(home)]
        for tools in toolchains(env):
            args += ["--ro-bind", view(tools), str(tools)]
            # A toolchain's own credentials (~/.cargo/credentials.toml) stay hidden.
            for secret in (p for p in tools.iterdir() if p.is_file() and is_secret_name(p.name)):
                args += ["--ro-bind", "/dev/null", str(secret)]
        # After the tmpfs mounts, so a workspace under /tmp or the home stays visible.
        args += ["--bind", view(ws), str(ws)]
        for bind in mounts.binds:
            args += ["--bind" if bind.writable else "--ro-bind", view(bind.source), str(bind.dest)]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.network:
            args.append("--unshare-net")
        args += ["--unshare-user", "--cap-drop", "ALL", "--disable-userns"]
        if as_root:  # root in the sandbox could undo it (remount / read-write, say)
            args += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
        if seccomp:
            args += ["--seccomp", str(SECCOMP_FD)]
        args += ["--new-session", "--die-with-parent", "--chdir", str(ws), "--", *command]
        return args

    def launch(self, command: list[str], env: Mapping[str, str], kept: Sequence[Path] = ()) -> "Launch":
        """Everything needed to start `command` inside; `env` must already be scrubbed; `kept`:
        git directories and .git files below the workspace, read-only inside (nested.py).

        bwrap itself gets `env` (not only the command): the sandbox can read bwrap's environment
        through /proc/1/environ. As root, the sandbox runs as an unprivileged identity
        (agent/sandbox/identity.py).
        """
        as_root = os.geteuid() == 0
        protection = Protection.create(self.workspace)
        shadows = protection.shadows
        identity = None
        if as_root:
            owner = self.workspace.stat()
            outside = [s.real for s in shadows if self.workspace not in s.real.parents]
            roots = [self.workspace, *outside, *(s.copy for s in shadows), protection.empty, *toolchains(env)]
            identity = Identity.create((owner.st_uid, owner.st_gid), roots)
        mounts = Mounts(protection.binds(kept), identity.view if identity else str)
        cgroups = CgroupSet.create(self.limits)
        program = seccomp_program()

        def in_child() -> None:
            cgroups.join()
            set_rlimits(self.limits)
            fd = os.memfd_create("heron-seccomp", 0)
            os.write(fd, program)
            os.lseek(fd, 0, os.SEEK_SET)
            os.dup2(fd, SECCOMP_FD)
            if identity:
                identity.enter()

        def cleanup() -> list[str]:
            cgroups.remove()
            refused = protection.close()
            if identity:
                identity.close()
            return refused

        return Launch(self.argv(command, env, as_root, mounts=mounts), dict(env), in_child,
                      cleanup, cgroups.problems, cgroups.forks_refused, cgroups.members, protection.settle)


def homes(env: Mapping[str, str]) -> list[Path]:
    """The homes the sandbox empties: $HOME, and the user's own home when $HOME points elsewhere
    (a toolchain such as ~/.pyenv on PATH may live in either)."""
    own = Path(pwd.getpwuid(os.getuid()).pw_dir)
    return list(dict.fromkeys([Path(env.get("HOME") or own), own]))


def toolchains(env: Mapping[str, str]) -> list[Path]:
    """Every home's toolchains on PATH, each shown read-only inside the emptied home."""
    return list(dict.fromkeys(t for home in homes(env) for t in home_toolchains(home, env.get("PATH", ""))))


def home_toolchains(home: Path, path_env: str) -> list[Path]:
    """The directories under the home that hold commands on PATH (~/.pyenv, ~/.cargo), so the
    empty home inside does not lose the user's toolchains; each is shown read-only."""
    found: list[Path] = []
    for entry in path_env.split(os.pathsep):
        path = Path(entry)
        if path.is_absolute() and home in path.parents and path.is_dir():
            top = home / path.relative_to(home).parts[0]
            if top not in found:
                found.append(top)
    return found


@dataclass(frozen=True)
class Launch:
    """A command to spawn: its argv and environment, what the child does before exec, cleanup."""

    argv: list[str]
    env: dict[str, str]
    in_child: Callable[[], None] | None = None
    # Ends what the launch left (processes, mounts' stand-ins); returns what it would not sync.
    cleanup: Callable[[], list[str]] = lambda: []
    # Limits that could not be set, for the user to hear about.
    problems: list[str] = field(default_factory=list)
    # How often the process limit has refused a fork so far.
    forks_refused: Callable[[], int] = lambda: 0
    # The processes in its cgroup: orphans of commands too, wherever they were reparented.
    members: Callable[[], list[int]] = lambda: []
    # Called before and after each command: syncs what the sandbox may hand back (gitmeta.py),
    # and says what it would not.
    settle: Callable[[], list[str]] = lambda: []
    # What the model should know of a command's output: why the sandbox refused it, when the
    # refusal is one of the tier's limits rather than a protection ("" otherwise).
    explain: Callable[[str], str] = lambda output: ""


def unconfined(command: list[str], env: Mapping[str, str]) -> Launch:
    """The shell without a sandbox; still in its own session, so /dev/tty cannot hang it."""
    return Launch(["setsid", "-w", *command], dict(env))


def socket_filter(deny_network: bool = False) -> Any:
    """A libseccomp filter refusing Unix and vsock sockets, io_uring and fallocate; with
    deny_network, IP sockets too (for the Landlock tier, which has no network namespace)."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(sc.ALLOW)
    # socket() only: socketpair() reaches nothing outside, and asyncio needs it for its loop.
    for family in (AF_UNIX, AF_VSOCK) + ((AF_INET, AF_INET6) if deny_network else ()):
        flt.add_rule(sc.ERRNO(errno.EAFNOSUPPORT), "socket", sc.Arg(0, sc.EQ, family))
    for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        flt.add_rule(sc.ERRNO(errno.ENOSYS), call)
    # Disk space claimed at once, faster than the disk budget's watch can see: programs fall back
    # to writing, which RLIMIT_FSIZE and the watch do bound (limits.DiskBudget).
    flt.add_rule(sc.ERRNO(errno.EOPNOTSUPP), "fallocate")
    return flt


def seccomp_program() -> bytes:
    """The classic-BPF program for bwrap --seccomp (its network namespace covers IP sockets)."""
    flt = socket_filter()
    with tempfile.TemporaryFile() as f:  # libseccomp exports to a file descriptor
        flt.export_bpf(f)
        f.seek(0)
        return f.read()


def bwrap_problem(sandbox: Sandbox) -> str | None:
    """Why `sandbox` cannot run here, or None when it can: bwrap is found and starts."""
    if shutil.which(sandbox.bwrap) is None:
        return "bubblewrap (bwrap) is not installed"
    try:
        seccomp_program()
    except (ImportError, OSError) as e:
        return f"the seccomp library (libseccomp) is missing: {e}"
    if os.geteuid() == 0 and (missing := idmap_problem()):
        return f"running as root, the sandbox needs an unprivileged identity, but there is {missing}"
    probe = sandbox.launch(["true"], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    try:
        done = subprocess.run(probe.argv, capture_output=True, text=True, timeout=20, env=probe.env,
                              preexec_fn=probe.in_child, close_fds=False)
    except (OSError, subprocess.SubprocessError) as e:
        return f"bwrap did not start: {e}"
    finally:
        probe.cleanup()
    if done.returncode != 0:
        return f"bwrap cannot make a sandbox here: {done.stderr.strip() or done.returncode}"
    return None


class ShellSandbox(Protocol):
    """What the shell needs of a sandbox tier: how to launch a command inside it."""

    workspace: Path
    limits: Limits

    def launch(self, command: list[str], env: Mapping[str, str], kept: Sequence[Path] = ()) -> Launch: ...
