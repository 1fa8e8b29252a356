"""Which untracked files git would list now, known without its walk over every folder.

git finds untracked files by reading every folder of the tree: on one of 180,000 files, 70,000
folders and 0.8 s of CPU, the most of a warm start. Adding, removing or renaming an entry moves
a folder's mtime, so the snapshot keeps, beside what git listed, the mtime of every folder its
walk enters; a new process stats them (a fifth of the cost) and asks git only of the folders
that moved. What could change what git ignores without moving a folder (a .gitignore edited in
place, the exclude files, git's configuration) sends it back to the whole walk. git's own
untracked cache works alike, but it lives in the index, which heron does not write.
"""

from __future__ import annotations

import os
import subprocess
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

# A folder whose mtime is this close to the look is not vouched for: an entry added in the same
# tick of the file system's clock would leave it as it was.
RACY_NS = 50_000_000
UNKNOWN = -1  # a folder's mtime not to be trusted: it is always looked at
# Folders git's walk enters that hold no file it lists (empty, or every file ignored) are found
# by walking them at save; past this many, the shortcut is not kept for the tree.
HIDDEN_MAX = 10_000
# Past this many moved folders (a checkout), git walks the whole tree: as quick by then.
MOVED_MAX = 16
TIMEOUT = 60


@dataclass(frozen=True)
class Folders:
    """What git listed as untracked, and the folders its walk entered, as they were then."""

    untracked: frozenset[str]
    names: tuple[str, ...]  # relative, "" the root
    mtimes: array  # of each name, UNKNOWN when it could not be vouched for
    rules: tuple[tuple[str, int, int], ...]  # what says what git ignores: path, mtime, size


def ancestors(names: Iterable[str]) -> set[str]:
    """Every folder holding one of the files `names`, and the folders above them (not the root)."""
    folders: set[str] = set()
    for name in names:
        folder = name.rpartition("/")[0]
        while folder and folder not in folders:
            folders.add(folder)
            folder = folder.rpartition("/")[0]
    return folders


def record(root: Path, listed: Iterable[str], untracked: frozenset[str], seen_ns: int) -> Folders | None:
    """The folders of `root` as they are, git having listed `listed` files (`untracked` of them)
    when it began to look at `seen_ns`; None when they cannot be kept (see HIDDEN_MAX)."""
    hidden = git_output(root, ["ls-files", "-z", "--others", "--exclude-standard", "--directory"])
    ignores: list[str] = []  # the .gitignore files, noted in the one pass over the listing

    def noted(paths: Iterable[str]) -> Iterator[str]:
        for path in paths:
            if path.rpartition("/")[2] == ".gitignore":
                ignores.append(path)
            yield path

    names = ancestors(noted(listed)) | {""}
    rules = _rule_files(root, ignores)
    if hidden is None or rules is None:
        return None
    extra = 0
    for entry in _entries(hidden):  # "a/": git went no further, nothing below being listed alone
        if not entry.endswith("/"):
            continue
        folder = entry.rstrip("/")
        names |= ancestors([entry])
        for inner in _walked(root / folder, folder):
            if inner not in names:
                names.add(inner)
                extra += 1
                if extra > HIDDEN_MAX:
                    return None
    ordered = tuple(sorted(names))
    base = str(root).rstrip("/") + "/"
    mtimes = array("q", (_vouched(_mtime(base + name), seen_ns) for name in ordered))
    return Folders(untracked, ordered, mtimes, tuple((path, *_stat(path)) for path in rules))


def untracked_now(root: Path, folders: Folders, then: set[str] | None, now: set[str] | None) -> frozenset[str] | None:
    """The untracked files git would list now (`folders.untracked` itself when no folder moved
    and the index let go of nothing); None when only its whole walk can tell. `then`
    and `now`: the paths the index held when the folders were recorded and holds now, when they
    differ (a file the index lets go of is untracked where it lies, unless ignored)."""
    if any(_stat(path) != (mtime, size) for path, mtime, size in folders.rules):
        return None
    base = str(root).rstrip("/") + "/"
    moved = []
    for name, mtime in zip(folders.names, folders.mtimes):
        if mtime == UNKNOWN or _mtime(base + name) != mtime:
            moved.append(name)
            if len(moved) > MOVED_MAX:
                return None
    found = set(folders.untracked)
    specs: list[str] = []  # asked of git at once: it enters only the folders they lead to
    known = set(folders.names) if moved else set()
    for folder in moved:
        prefix = folder + "/" if folder else ""
        found = {path for path in found if not path.startswith(prefix) or "/" in path[len(prefix):]}
        try:
            entries = list(os.scandir(base + folder))
        except OSError:  # gone: so are the untracked files below it
            found = {path for path in found if not path.startswith(prefix)}
            continue
        # Its own files, and whatever is in folders new in it.
        specs += [":(glob)" + _escaped(prefix) + "*", *(
            f":(literal){prefix}{entry.name}/" for entry in entries
            if entry.is_dir(follow_symlinks=False) and prefix + entry.name not in known and entry.name != ".git")]
    came: set[str] = set()  # into the index
    if then is not None and now is not None:
        found -= now
        came = now - then
        let_go = [path for path in then - now if os.path.lexists(base + path)]
        specs += [f":(literal){path}" for path in let_go]
    if specs:
        listed = git_output(root, ["ls-files", "-z", "--others", "--exclude-standard", "--", *specs])
        if listed is None:
            return None
        found.update(_entries(listed))
    if any(path.rpartition("/")[2] == ".gitignore" for path in (found - folders.untracked) | came):
        return None  # a new one may ignore files in the folders below it
    return folders.untracked if not specs and found == folders.untracked else frozenset(found)


def _rule_files(root: Path, ignores: list[str]) -> list[str] | None:
    """The files whose contents decide what git ignores under `root`: the .gitignore files it
    lists (`ignores`) and those of the folders above it in the work tree, the repository's
    exclude file, git's configuration files and the excludes file they name."""
    said = git_output(root, ["rev-parse", "--show-prefix", "--git-path", "info/exclude", "--git-path", "config"])
    paths = said.split("\n") if said is not None else []
    if len(paths) < 3:
        return None
    prefix, exclude, config = paths[:3]
    base = str(root).rstrip("/")
    found = [f"{base}/{path}" for path in ignores]
    top = Path(base)
    for _ in prefix.strip("/").split("/") if prefix.strip("/") else ():
        top = top.parent
        found.append(str(top / ".gitignore"))
    found += [str(root / exclude), str(root / config)]
    home = Path.home()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    found += [str(home / ".gitconfig"), str(xdg / "git" / "config"), str(xdg / "git" / "ignore")]
    named = git_output(root, ["config", "--path", "--get", "core.excludesFile"], missing_ok=True)
    found += [str(root / path) for path in (named or "").split("\n") if path]
    return found


def _walked(path: Path, rel: str) -> Iterator[str]:
    """The folders below `path` (relative to the root as `rel`)."""
    for top, dirs, _ in os.walk(path):
        dirs[:] = [d for d in dirs if d != ".git"]  # a repository of its own: git does not enter it
        inside = rel + top[len(str(path)):]
        yield from (f"{inside}/{d}" for d in dirs)


def _escaped(text: str) -> str:
    """`text` matched as itself in a glob pathspec."""
    return "".join("\\" + c if c in "*?[\\" else c for c in text)


def _vouched(mtime: int, seen_ns: int) -> int:
    return UNKNOWN if mtime == UNKNOWN or mtime >= seen_ns - RACY_NS else mtime


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return UNKNOWN


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def git_output(root: Path, args: list[str], missing_ok: bool = False) -> str | None:
    """What git printed, None when it failed."""
    # Pathspecs' magic read as written, whatever the user's GIT_*_PATHSPECS say.
    env = {name: value for name, value in os.environ.items() if not name.endswith("_PATHSPECS")}
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=TIMEOUT, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0 and not (missing_ok and done.returncode == 1):
        return None
    return done.stdout.decode("utf-8", "surrogateescape")


def _entries(out: str) -> list[str]:
    return [entry for entry in out.split("\0") if entry]
