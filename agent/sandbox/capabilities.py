"""The capabilities a shell started as root keeps: in the child before exec, all but a chosen set
are taken away for good.

Root that execs a program gets its bounding set (and inheritable set) as its capabilities, so
emptying both of what is not kept, and the ambient set, leaves the program, and everything it
starts, no more than that: a setuid program or a file's capabilities cannot give any back.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

CAP_MKNOD = 27
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAPABILITY_VERSION_3 = 0x20080522
_LAST_POSSIBLE = 63  # capabilities are 64 bits; a number the kernel does not know is refused


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def bounding_set(pid: int) -> int:
    """The bounding set of process `pid`: what any program it runs can have at most."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise OSError(0, f"process {pid} shows no CapBnd")


def keep_only(kept: int) -> None:
    """In the child, as root, before exec: every capability outside the mask `kept` gone."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    for cap in range(_LAST_POSSIBLE + 1):
        if not kept >> cap & 1 and libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            _check(errno.EINVAL, f"dropping capability {cap}")  # EINVAL: one this kernel lacks
    header, data = _Header(_CAPABILITY_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        _check(None, "capget")
    for half, word in enumerate(data):
        word.inheritable &= kept >> (32 * half) & 0xFFFFFFFF
    if libc.capset(ctypes.byref(header), data) != 0:
        _check(None, "capset")


def _check(allowed: int | None, what: str) -> None:
    """After a failed call: raise, unless it failed with `allowed`."""
    failed = ctypes.get_errno()
    if failed != allowed:
        raise OSError(failed, f"{what}: {os.strerror(failed)}")
