"""Joining a running container from the shell's forked child, before exec, as nsenter does, but
with no more capabilities than the container's own processes have.

nsenter keeps every capability of heron's root: a shell it starts could unmount what the container
binds read-only (the stand-ins of protect.py) or reach the host's disks. Here the child enters the
namespaces and the root of the container's first process, forks so that the program it execs is in
the container's PID namespace (a parent that only waits stays behind, as nsenter's does), and takes
the capabilities down to the mask it is given before exec (capabilities.py).
"""

from __future__ import annotations

import ctypes
import os
import signal
from pathlib import Path

from agent.sandbox import capabilities, mounts

# nsenter's order: the mount namespace last, since /proc/PID is the container's after it.
NAMESPACES = ("ipc", "uts", "net", "pid", "mnt")


def join(pid: int, cwd: Path, kept: int) -> None:
    """In the forked child, before exec: process `pid`'s namespaces and root, `cwd` there, in a
    session of its own (no terminal to hang on), with the capabilities `kept` at most."""
    libc = ctypes.CDLL(None, use_errno=True)
    spaces = [os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name in NAMESPACES]
    root = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for name, space in zip(NAMESPACES, spaces, strict=True):
        mounts.check(libc.setns(space, 0), f"joining the container's {name} namespace")
        os.close(space)
    os.fchdir(root)
    os.chroot(".")
    os.close(root)
    os.chdir(cwd)
    _continue_as_child()
    os.setsid()
    capabilities.keep_only(kept)


def _continue_as_child() -> None:
    """Fork: the child returns, to exec in the PID namespace joined; this process waits for it
    and ends as it ends. It never returns: the code after the caller is the child's."""
    child = os.fork()
    if child == 0:
        return
    try:
        # Killed by a signal, not by an exception that would resume heron's code in this process.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, signal.SIG_DFL)
        # Among them the pipe pexpect reads the child's exec error from: held here, it would wait forever.
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        _, status = os.waitpid(child, 0)
        if os.WIFSIGNALED(status):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.waitstatus_to_exitcode(status))
    finally:
        os._exit(1)
