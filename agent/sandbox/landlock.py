"""Landlock, the kernel's unprivileged filesystem sandbox, driven through its three syscalls.

The second tier of the shell's sandbox, for where bubblewrap cannot make user namespaces (inside
Docker, say). Landlock only allows: each rule grants rights on a whole hierarchy, and nothing
below can be taken away again. So a tree with a hole in it (the workspace without .git/hooks, the
filesystem without the home) is granted entry by entry around the hole, and the directories on
the way keep only the right to list them.
"""

from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every arch
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
# Removing and making entries of every kind (bits 4..12), the rights of a writable directory.
MAKE_AND_REMOVE = sum(1 << bit for bit in range(4, 13))
# Rights that mean something on a file rather than a directory; a file's rule may hold no others.
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = EXECUTE | READ_FILE | READ_DIR
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6: no reaching processes outside


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(version, 0)


def handled_rights(abi: int) -> int:
    """Every filesystem right this ABI knows: all of them are refused unless a rule grants them."""
    rights = READ | WRITE_FILE | MAKE_AND_REMOVE
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


@dataclass(frozen=True)
class Rule:
    path: Path
    rights: int


def beneath_except(root: Path, holes: Iterable[Path], rights: int) -> list[Rule]:
    """Rules granting `rights` on `root`'s tree but not on the holes in it.

    Directories that lead to a hole are granted only READ_DIR (if asked for), each of their
    other entries the full rights. Symbolic links are never followed: a link's target is
    covered, or not, where it really is.
    """
    inside = [h for h in holes if h == root or root in h.parents]
    if root.is_symlink() or root in inside:
        return []
    if not root.is_dir():
        return [Rule(root, rights & FILE_RIGHTS)]
    if not inside:
        return [Rule(root, rights)]
    rules = [Rule(root, rights & READ_DIR)] if rights & READ_DIR else []
    try:
        children = sorted(root.iterdir())
    except OSError:
        return rules
    for child in children:
        rules += beneath_except(child, inside, rights)
    return rules


def restrict_self(rules: list[Rule], abi: int, scoped: bool = True) -> None:
    """Confine the calling process and its future children to `rules`; cannot be undone.

    Runs in the forked child before exec, so it only raises OSError. A path that vanished since
    the rules were made is skipped: it grants nothing then.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    handled = handled_rights(abi)
    scope = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if scoped and abi >= 6 else 0
    attr = struct.pack("=QQQ", handled, 0, scope) if abi >= 6 else struct.pack("=QQ", handled, 0) \
        if abi >= 4 else struct.pack("=Q", handled)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, attr, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        for rule in rules:
            try:
                fd = os.open(rule.path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                beneath = struct.pack("=Qi", rule.rights & handled, fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, beneath, ctypes.c_uint32(0)) < 0:
                    raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {rule.path}")
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0:
            raise OSError(ctypes.get_errno(), "prctl(NO_NEW_PRIVS) failed")
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) < 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(ruleset)
