"""Shared sources: one bare mirror per repository on each machine, a reused worktree per task slot.

A task never clones. Its repository is mirrored once per machine under heron's cache
(`<cache>/heron/batch/<name>-<hash>.git`); a task holds one *slot*, a worktree of that mirror
kept between tasks, and checks its base commit out there. A checkout rewrites only the files that
differ between commits, and each file's mtime is set from its blob id, so a file's (path, size,
mtime) is the same in every slot: the repo map's cache entries stay valid from task to task, and a
new slot starts from a copy of a sibling slot's cache, so a commit's tags are parsed once per
machine. Slots are held with file locks, so the local pool's processes and Ray workers on one
machine share them safely.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from platformdirs import user_cache_dir

from agent.repomap.cache import database_path, default_cache_dir

# mtimes from blob ids fall in 2001..2011: long past, so no entry of the tag cache looks "racy".
MTIME_BASE = 1_000_000_000
MTIME_SPAN = 10 * 365 * 86400
GITHUB_SLUG = re.compile(r"[\w.-]+/[\w.-]+")


class SourceError(RuntimeError):
    """The repository or the commit cannot be had; the task ends as an error with this message."""


def default_root() -> Path:
    return Path(user_cache_dir("heron")) / "batch"


@dataclass
class Slot:
    """A worktree checked out at a task's base commit, held until released."""

    tree: Path
    commit: str
    lock: IO[str]

    def release(self) -> None:
        self.lock.close()  # closing the file drops its flock


class Sources:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    def checkout(self, source: str, commit: str | None) -> Slot:
        """A free slot of `source`'s mirror at `commit` (the mirror's HEAD when None), clean."""
        mirror = self._mirror(source)
        sha = self._resolve(mirror, commit)
        slot, lock = self._free_slot(mirror)
        try:
            if not (slot / ".git").exists():
                with _locked(mirror.with_suffix(".lock")):
                    _git(mirror, "worktree", "prune")
                    shutil.rmtree(slot, ignore_errors=True)
                    _git(mirror, "worktree", "add", "--detach", "--no-checkout", str(slot), sha)
                _seed_map_cache(slot)
            _git(slot, "checkout", "--force", "--quiet", "--detach", sha)
            _git(slot, "clean", "-ffdxq")
            _stable_mtimes(slot)
        except BaseException:
            lock.close()
            raise
        return Slot(slot, sha, lock)

    def _mirror(self, source: str) -> Path:
        local = Path(source).expanduser()
        if local.exists():
            origin = str(local.resolve())
        elif GITHUB_SLUG.fullmatch(source):  # SWE-bench's "owner/name"
            origin = f"https://github.com/{source}.git"
        else:
            origin = source
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(origin.rstrip("/")).name)
        mirror = self.root / f"{name.removesuffix('.git')}-{hashlib.sha1(origin.encode()).hexdigest()[:12]}.git"
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(mirror.with_suffix(".lock")):
            if not (mirror / "HEAD").exists():
                shutil.rmtree(mirror, ignore_errors=True)
                partial = mirror.with_name(mirror.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                _git(self.root, "clone", "--bare", "--quiet", origin, str(partial))
                partial.rename(mirror)
        return mirror

    def _resolve(self, mirror: Path, commit: str | None) -> str:
        rev = f"{commit or 'HEAD'}^{{commit}}"
        found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", rev], cwd=mirror,
                               capture_output=True, text=True)
        if found.returncode != 0:  # a commit newer than the mirror: fetch, then look again
            with _locked(mirror.with_suffix(".lock")):
                _git(mirror, "fetch", "--quiet", "origin", "+refs/*:refs/*")
            found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", rev], cwd=mirror,
                                   capture_output=True, text=True)
        if found.returncode != 0:
            raise SourceError(f"no commit {commit} in {mirror} (fetched from its origin)")
        return found.stdout.strip()

    def _free_slot(self, mirror: Path) -> tuple[Path, IO[str]]:
        trees = mirror.with_suffix(".trees")
        trees.mkdir(exist_ok=True)
        n = 0
        while True:
            lock = open(trees / f"{n}.lock", "a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return trees / str(n), lock
            except BlockingIOError:
                lock.close()
                n += 1


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SourceError(f"git {' '.join(args[:2])} failed in {cwd}: {proc.stderr.strip()}")
    return proc.stdout


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _stable_mtimes(tree: Path) -> None:
    """Give each tracked file an mtime derived from its blob id (see the module's note)."""
    touched = False
    for entry in _git(tree, "ls-files", "-s", "-z").split("\0"):
        if not entry:
            continue
        meta, path = entry.split("\t", 1)
        mode, blob, _ = meta.split(" ")
        if mode == "160000":  # a submodule: no file here
            continue
        mtime = MTIME_BASE + int(blob[:8], 16) % MTIME_SPAN
        full = tree / path
        try:
            if full.lstat().st_mtime_ns != mtime * 10**9:
                os.utime(full, (mtime, mtime), follow_symlinks=False)
                touched = True
        except FileNotFoundError:
            continue
    if touched:  # git's index holds the old stat data: refresh it, or every status rehashes
        subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=tree, capture_output=True)


def _seed_map_cache(slot: Path) -> None:
    """A new slot starts with a copy of a sibling's repo-map cache (same files, same keys)."""
    cache_dir = default_cache_dir()
    target = database_path(slot, cache_dir)
    if target.exists():
        return
    for sibling in sorted(slot.parent.iterdir()):
        source = database_path(sibling, cache_dir)
        if sibling == slot or not sibling.is_dir() or not source.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
                src.backup(dst)  # consistent even while the sibling's task writes to it
        except sqlite3.Error:
            target.unlink(missing_ok=True)
            continue
        index = source.with_suffix(".index")
        if index.exists():
            shutil.copyfile(index, target.with_suffix(".index"))  # its header is checked on read
        return
