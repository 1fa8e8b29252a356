"""File access that cannot be raced: every path component opened relative to the one before it.

The file tools resolve a path and check it (agent/sandbox/workspace.py), but a process in the
sandbox may swap a directory for a symbolic link between that check and the write. So the
checked path, already free of links, is opened component by component from a descriptor of the
workspace with O_NOFOLLOW: a link found on the way means the path changed underneath, and the
call is refused. A write goes to a temporary file in the same directory descriptor, is synced,
and renamed over the target there; what was checked is what is written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Iterator

from agent.errors import ToolError

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _parts(root: Path, path: Path) -> list[str]:
    try:
        return list(path.relative_to(root).parts)
    except ValueError:
        raise ToolError(f"{path}: outside the workspace ({root})") from None


def _changed(shown: str, e: OSError) -> ToolError:
    return ToolError(f"{shown}: the path changed while heron used it ({e.strerror or e}); "
                     "it was not touched; try again once nothing else is changing it")


@contextlib.contextmanager
def directory(root: Path, path: Path, shown: str, create: bool = False) -> Iterator[int]:
    """A descriptor of the directory `path` (inside `root`), reached without following links;
    missing directories are made on the way when `create`."""
    fd = os.open(root, _DIR)
    try:
        for part in _parts(root, path):
            try:
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o777, dir_fd=fd)
                nxt = os.open(part, _DIR, dir_fd=fd)
            except FileNotFoundError as e:  # made just now when creating: then it was raced away
                raise (_changed(shown, e) if create else ToolError(f"{shown} does not exist")) from None
            except OSError as e:
                raise _changed(shown, e) from None
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def read_fd(root: Path, path: Path, shown: str) -> int:
    """An open descriptor for reading the regular file `path`; the caller closes it."""
    with directory(root, path.parent, shown) as parent:
        try:
            fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=parent)
        except FileNotFoundError:
            raise ToolError(f"{shown} does not exist") from None
        except IsADirectoryError:
            raise ToolError(f"{shown} is a directory") from None
        except OSError as e:
            raise _changed(shown, e) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ToolError(f"{shown} is not a regular file")
    return fd


def read_bytes(root: Path, path: Path, shown: str) -> bytes:
    fd = read_fd(root, path, shown)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def write_atomic(root: Path, path: Path, data: bytes, shown: str) -> None:
    """Replace `path` with `data`: a synced temporary file renamed over it, keeping its mode and
    owner (a new file gets the umask's mode), so neither a kill nor a full disk leaves half a file."""
    with directory(root, path.parent, shown, create=True) as parent:
        try:
            old = os.stat(path.name, dir_fd=parent, follow_symlinks=False)
            mode = stat.S_IMODE(old.st_mode) if stat.S_ISREG(old.st_mode) else None
            owner = (old.st_uid, old.st_gid) if stat.S_ISREG(old.st_mode) else None
        except FileNotFoundError:
            mode = owner = None
        tmp = f".{path.name[:200]}.{secrets.token_hex(4)}.heron"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                if owner is not None and owner != (os.getuid(), os.getgid()):
                    os.fchown(f.fileno(), *owner)
                if mode is not None:
                    os.fchmod(f.fileno(), mode)
                os.fsync(f.fileno())
            os.rename(tmp, path.name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=parent)
            if isinstance(e, OSError):
                raise ToolError(f"{shown}: cannot write: {e.strerror or e}") from None
            raise


def unlink(root: Path, path: Path, shown: str) -> None:
    with directory(root, path.parent, shown) as parent:
        try:
            os.unlink(path.name, dir_fd=parent)
        except FileNotFoundError:
            raise ToolError(f"{shown} does not exist") from None
        except OSError as e:
            raise _changed(shown, e) from None
