"""One walk of the workspace serving two checks: the disk it takes (limits.DiskBudget) and where
git would find a repository in it (nested.py). On a big tree the walk costs far more than
either check, so the shell makes one after each command, not one for each."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class Walk:
    # Bytes of disk under the root (hard links once, links not followed).
    used: int
    # Every entry named .git (a directory, a `gitdir:` file or a link) and every directory git
    # would take for a git directory if a command ran in it (a bare repository's shape).
    git: frozenset[Path]


def walk(root: Path) -> Walk:
    linked: set[tuple[int, int]] = set()
    used = 0
    git: set[Path] = set()
    folders = [str(root)]
    while folders:
        top = folders.pop()
        files, dirs = [], []
        try:
            entries = os.scandir(top)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                    is_dir = entry.is_dir(follow_symlinks=False)
                    # git follows links, so a link to a directory counts as one for its shape
                    (dirs if is_dir or entry.is_symlink() and entry.is_dir() else files).append(entry.name)
                except OSError:
                    continue
                if is_dir:
                    folders.append(entry.path)
                elif st.st_nlink > 1:  # a hard link's other names are not counted again
                    if (st.st_dev, st.st_ino) in linked:
                        continue
                    linked.add((st.st_dev, st.st_ino))
                used += st.st_blocks * 512
        if ".git" in dirs or ".git" in files:
            git.add(Path(top, ".git"))
        if looks_like_git_dir(set(files).__contains__, set(dirs).__contains__):
            git.add(Path(top))
    return Walk(used, frozenset(git))


def looks_like_git_dir(is_file: Callable[[str], bool], is_dir: Callable[[str], bool]) -> bool:
    """Git's own test (is_git_directory) of a directory, asked through what it holds: a HEAD,
    and objects/ and refs/ here or in a commondir."""
    return is_file("HEAD") and (is_file("commondir") or (is_dir("objects") and is_dir("refs")))


def is_git_dir(folder: Path) -> bool:
    """The same test asked of the disk."""
    return looks_like_git_dir(lambda name: (folder / name).is_file(), lambda name: (folder / name).is_dir())
