"""Whether anything changed in a set of directories since the last look, from Linux's inotify.

A turn's refresh would otherwise stat every file of the repository (on Django, 5,500 files and
3,200 directories: about 50 ms); with a watch on each listed directory, a turn where nothing
changed costs one read of a descriptor, and a turn after an edit looks at the edited files alone.
Watches are added before a directory is read, so a change made while the listing runs is seen at
the next look. Where inotify cannot serve (not Linux, the watch or instance limit reached, events
lost to an overflow) or cannot see every change (a network or FUSE filesystem: see
LOCAL_FILESYSTEMS), `changes()` says None: look at everything, as without it.

Only the work tree's directories are watched: a change to .git/info/exclude or to the global
excludes file alone is seen at the next change in the tree.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
import weakref
from pathlib import Path

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x400, 0x800, 0x4000, 0x8000, 0x40000000
IN_ONLYDIR, IN_DONT_FOLLOW = 0x01000000, 0x02000000
CHANGES = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
           | IN_DELETE_SELF | IN_MOVE_SELF)
EVENT = struct.Struct("iIII")  # wd, mask, cookie, length of the name that follows
# Filesystems whose every change passes through this kernel, so inotify hears of it. On NFS, SMB,
# 9p or virtiofs (a container's bind mount of a Mac's folder) another machine's writes raise no
# event; there every turn looks at the files.
LOCAL_FILESYSTEMS = frozenset(
    "ext2 ext3 ext4 xfs btrfs zfs f2fs bcachefs jfs reiserfs tmpfs ramfs overlay".split())


class Watcher:
    def __init__(self) -> None:
        self._libc = _libc()
        self.fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC) if self._libc else -1
        self.watched: dict[str, int] = {}  # directory -> watch descriptor
        self._paths: dict[int, str] = {}
        if self.fd >= 0:
            self._closer = weakref.finalize(self, os.close, self.fd)

    @property
    def working(self) -> bool:
        return self.fd >= 0

    def watch(self, directory: str) -> None:
        """Watch a directory (an absolute path) from now on; one already watched costs nothing."""
        directory = directory.rstrip("/") or "/"
        if self.fd < 0 or directory in self.watched:
            return
        wd = self._libc.inotify_add_watch(self.fd, os.fsencode(directory), CHANGES | IN_ONLYDIR | IN_DONT_FOLLOW)
        if wd >= 0:
            self.watched[directory] = wd
            self._paths[wd] = directory
        elif ctypes.get_errno() not in (2, 13, 20):  # ENOENT, EACCES, ENOTDIR: its parent's watch tells
            self.close()  # ENOSPC (the watch limit) or worse: go back to looking at everything

    def changes(self) -> set[str] | None:
        """The files (absolute paths) whose entry or contents changed in the watched directories
        since the last call; None when it cannot tell which: a folder came, went or moved, events
        were lost, or inotify is not working."""
        if self.fd < 0:
            return None
        changed: set[str] | None = set()
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return changed
            except OSError:
                self.close()
                return None
            at = 0
            while at + EVENT.size <= len(data):
                wd, mask, _, name_length = EVENT.unpack_from(data, at)
                name = data[at + EVENT.size:at + EVENT.size + name_length].rstrip(b"\0")
                at += EVENT.size + name_length
                if mask & IN_IGNORED:  # the directory is gone: watch it afresh should it return
                    self.watched.pop(self._paths.pop(wd, ""), None)
                folder = self._paths.get(wd)
                if changed is None or not name or folder is None or mask & (IN_ISDIR | IN_Q_OVERFLOW):
                    changed = None  # an event on a folder, or none that names a file
                else:
                    changed.add(f"{folder.rstrip('/')}/{os.fsdecode(name)}")

    def close(self) -> None:
        if self.fd >= 0:
            self._closer()
            self.fd = -1
        self.watched.clear()
        self._paths.clear()


def local_filesystem(path: str) -> bool:
    """Whether `path` (absolute, resolved) lies on one of LOCAL_FILESYSTEMS, by the innermost mount
    holding it in /proc/self/mountinfo."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return False
    innermost, kind = "", ""
    for line in mounts:
        fields = line.split()
        # The mount point is field 5, with spaces and the like written as octal escapes; the
        # filesystem type follows the "-" that ends the optional fields.
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
        if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(innermost):
            innermost, kind = point, fields[fields.index("-") + 1]
    return kind in LOCAL_FILESYSTEMS


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1, libc.inotify_add_watch  # noqa: B018 - present only on Linux
    except (OSError, AttributeError):
        return None
    return libc
