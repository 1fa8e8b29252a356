"""The new mount API (open_tree, mount_setattr, move_mount), for a child in its own mount namespace.

A tree is cloned into a detached mount, given its attributes while nobody can see it yet, then
attached where it belongs. Cloning first is what lets several binds cover one another's sources:
each source is taken as it was before any of them was attached.
"""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442  # the same on every arch
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC = 1, os.O_CLOEXEC
_AT_FDCWD, _AT_EMPTY_PATH = -100, 0x1000
_MOVE_MOUNT_F_EMPTY_PATH = 4
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV = 0x1, 0x2, 0x4
MOUNT_ATTR_IDMAP = 0x100000


def clone(path: Path) -> int:
    """A detached copy of the mount at `path` (a bind of it, links in the path followed); its fd."""
    libc = ctypes.CDLL(None, use_errno=True)
    tree = libc.syscall(_SYS_OPEN_TREE, _AT_FDCWD, os.fsencode(path), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC)
    check(tree, f"open_tree {path}")
    return tree


def set_attributes(tree: int, attributes: int, userns: int = 0, what: str = "") -> None:
    """Set MOUNT_ATTR_* on a detached tree (with MOUNT_ATTR_IDMAP, the user namespace's fd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    attr = struct.pack("=QQQQ", attributes, 0, 0, userns)
    check(libc.syscall(_SYS_MOUNT_SETATTR, tree, b"", _AT_EMPTY_PATH, attr, len(attr)), what or "mount_setattr")


def attach(tree: int, target: Path) -> None:
    """Mount a detached tree at `target` (a trailing link is not followed) and close its fd."""
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        check(libc.syscall(_SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, os.fsencode(target), _MOVE_MOUNT_F_EMPTY_PATH),
              f"mounting {target}")
    finally:
        os.close(tree)


def check(result: int, what: str) -> None:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
