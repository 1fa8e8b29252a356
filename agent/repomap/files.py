"""Which files of a repository the map covers: listed through git, or by a walk outside git.

Vendored trees, symlinks, non-regular files and files too big to be source are left out here,
from names and sizes alone; binary, generated and minified files are recognised by their content
when they are read (see `source.py`).
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Container, Iterable, Iterator, Sequence

from agent.repomap.folders import ancestors, record
from agent.repomap.gitstate import GitLook, GitState, GitView, changed_since, state_of
from agent.repomap.watch import Watcher, local_filesystem

# Directories whose code is someone else's, copied in; they would swamp the map.
VENDORED_DIRS = frozenset({
    "node_modules", "bower_components", "vendor", "vendored", "third_party", "third-party",
    "thirdparty", "site-packages", ".venv", "venv", "Pods",
})
# Directories a walk outside git skips too: build output and tool caches.
WALK_SKIP_DIRS = VENDORED_DIRS | {"__pycache__", "build", "dist", "target", "out"}
# Beyond this a file is data or generated, not code a person reads.
MAX_FILE_BYTES = 1_000_000
# Up to this many files to look at in a new process, git's index is searched for each (see _looked).
LOOKED_UP = 20
# Filesystems keep mtimes at coarse granularity; a file or directory changed within this much of
# being read may keep the same mtime, so it is not trusted to tell.
RACY_NS = 2_000_000_000
BINARY_SUFFIXES = frozenset(
    ".png .jpg .jpeg .gif .bmp .ico .webp .pdf .zip .gz .bz2 .xz .tar .tgz .whl .jar .class .so "
    ".dylib .dll .exe .o .a .pyc .woff .woff2 .ttf .otf .eot .mp3 .mp4 .wav .mov .sqlite .db .npy "
    ".npz .pkl .mo .ogg .avi .psd .bin".split()
)
GENERATED_SUFFIXES = (".min.js", ".min.css", "_pb2.py", "_pb2_grpc.py", ".pb.go", ".map", ".lock",
                      "package-lock.json", ".snap")


@dataclass(frozen=True, slots=True)  # slots: a big tree lists 10^5 of them
class FileStat:
    path: str  # relative to the root, with forward slashes
    size: int
    mtime_ns: int


@dataclass
class Lister:
    """Lists a repository's candidate files, again and again through a session.

    Where inotify watches the listed directories, the last listing is the answer when it saw
    nothing change, and only the files it names are looked at again when it saw files change.
    Otherwise, outside git, a directory is read again only when its mtime has moved (adding,
    removing or renaming an entry moves it); the others' files are only stat'ed, which halves a
    listing. What it remembers of directories is plain data, so the tag cache can keep it for the
    next process.
    """

    # directory (relative) -> (its mtime, when it was read, its subdirectories, its files)
    directories: dict[str, tuple[int, int, list[str], list[str]]] = field(default_factory=dict)
    directories_changed: bool = False  # whether the last listing read a directory afresh or lost one
    unchanged: bool = False  # whether the last listing is the one before it, nothing having changed
    # When the last listing is the one before it with a few files looked at again: those files,
    # each with what it is now (None: gone, or no longer a candidate). None after a whole listing.
    touched: dict[str, FileStat | None] | None = None
    watcher: Watcher = field(default_factory=Watcher)
    _last: tuple[Path, Sequence[FileStat], bool] | None = None  # root, its listing, whether through git
    _at: dict[str, int] | None = None  # path -> its place in the last listing, made when needed
    _started: tuple[Path, GitLook] | None = None  # see start
    view: GitView | None = None  # what git said at the last listing through it (see git_state)
    view_outdated: bool = False  # whether files changed since git said it
    # Whether the folders kept with the snapshot could not tell the untracked files, so that git
    # walked them all: then they are worth keeping anew, or every later start walks again.
    walked_all: bool = False
    # A first listing from what git says changed since `state` (see resume): root, state, the
    # question asked of git, and what the listing was before (made when needed).
    _resumed: tuple[Path, GitState, GitLook, Callable[[], list[FileStat]]] | None = None
    # A resumed listing's tree, to watch (see watch_later), with git's view and the state it resumed from.
    _unwatched: tuple[Path, GitView, GitState] | None = None
    _arming: threading.Thread | None = None  # watching it
    _caught: set[str] | None = None  # what changed while it did, relative; None: it could not tell
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self, root: Path, known: Iterable[str]) -> None:
        """Begin the first listing of `root`, for list() to finish: git lists its files while the
        caller does something else (a warm start reads its cache meanwhile, which on a tree of
        100,000 files takes as long). The folders of the files `known` are watched first, so
        that a change made while git lists is heard of at the next look."""
        self._check_filesystem(root)
        base = str(root)
        self.watcher.watch(base)
        for folder in ancestors(known):
            self.watcher.watch(f"{base}/{folder}")
        self.watcher.changes()  # what changed before git lists is in its listing
        self._started = (root, GitLook(root))

    def resume(self, root: Path, state: GitState, look: GitLook, listed: Callable[[], list[FileStat]]) -> None:
        """Begin the first listing of `root` as the one the caller listed when git said `state`:
        list() then looks only at the files git names now (`look`, asked of `root`; see
        gitstate.py), and the tree is watched in the background after. `listed`: the caller's
        listing then (whatever list() returns after, made only when a later listing needs it)."""
        self._check_filesystem(root)
        self._resumed = (root, state, look, listed)

    def git_state(self, root: Path, cached: Iterable[str], digest: Callable[[str], str | None]) -> GitState | None:
        """What git said of `root` at the last look, for the cache holding `cached` files (see
        gitstate.state_of); None outside git. Any look would serve, however old: a file is
        vouched for only where its digest is the blob git named then, and the next process
        compares git's index as it is with the one kept. But git is asked again when files
        changed since: the folders they moved would be later than its look, so not vouched
        for, and looked into by every new process (see folders.py)."""
        if self._last is None or self._last[0] != root or not self._last[2] or self.view is None:
            return None
        if self.view_outdated:
            self.view, self.view_outdated = GitLook(root).view() or self.view, False
        view = self.view
        folders = view.folders or record(root, _paths_of(view), view.untracked, view.seen_ns)
        return state_of(view, cached, digest, folders)

    def list(self, root: Path) -> Sequence[FileStat]:
        """The candidate files under `root`, sorted by path."""
        resumed, self._resumed = self._resumed, None
        if resumed is not None and resumed[0] == root:
            touched = self._resumed_listing(*resumed)
            if touched is not None:
                return self._last[1]  # type: ignore[index]
        self._settled()
        started, self._started = self._started, None
        if started is not None and started[0] != root:
            started[1].stop()
            started = None
        self._check_filesystem(root)
        # Read first: what changes from now on is seen next time (after start(), kept for then).
        changes = self.watcher.changes() if started is None else None
        if changes is not None and self._caught is not None:
            changes |= {f"{str(root).rstrip('/')}/{path}" for path in self._caught}
        self._caught = None
        last = self._last if self._last is not None and self._last[0] == root else None
        self.unchanged = last is not None and changes == set()
        self.directories_changed = False
        self.touched = None
        if last is not None and changes is not None:
            self.touched = _restat(str(root), changes, self._places(), git=last[2])
            self.view_outdated |= bool(self.touched)
            if self.touched is not None:
                return self._patched(last, self.touched)
        base = str(root)
        self.view = (started[1] if started is not None else GitLook(root)).view()
        self.view_outdated = False
        names = _git_files(root, self.view)
        entries: Iterable[tuple[str, os.stat_result]]
        if names is None:
            entries = self._walk(base)
        else:
            self.watcher.watch(base)
            for folder in ancestors(names):
                self.watcher.watch(f"{base}/{folder}")
            entries = _stat_all(base, names)
        found = [FileStat(name, st.st_size, st.st_mtime_ns) for name, st in entries if _candidate(name, st)]
        found.sort(key=lambda f: f.path)
        self._keep((root, found, names is not None))
        return found

    def _check_filesystem(self, root: Path) -> None:
        if self._last is None and not local_filesystem(str(root)):
            self.watcher.close()  # it would not hear of every change

    def forget(self) -> None:
        """List everything afresh next time: what the last listing told was not taken in."""
        self._last = None

    def close(self) -> None:
        if self._started is not None:
            self._started[1].stop()
        if self._resumed is not None:
            self._resumed[2].stop()
        self._stop.set()  # a watching thread ends at its next folder; nothing waits for it
        self._unwatched = self._arming = None
        self.watcher.close()

    def _resumed_listing(self, root: Path, state: GitState, look: GitLook,
                         listed: Callable[[], list[FileStat]]) -> dict[str, FileStat | None] | None:
        """The files changed since `state` (self.touched), or None when git cannot tell."""
        view = look.view(state)
        self.walked_all = "untracked" in look.asked
        if view is None:
            return None
        self.touched = _looked(str(root), changed_since(state, view), view)
        self.unchanged = not self.touched
        self.directories_changed = False
        self._keep((root, _Later(listed), True))
        self.view = view
        self._unwatched = (root, view, state)
        return self.touched

    def watch_later(self) -> None:
        """Watch the tree of a resumed listing in the background from now on: called once its
        map is out, as the thread would slow the map (numpy waits for the interpreter's lock)."""
        if self._unwatched is not None:
            self._arming = threading.Thread(target=self._arm, args=self._unwatched, daemon=True)
            self._unwatched = None
            self._arming.start()

    def _arm(self, root: Path, view: GitView, state: GitState) -> None:
        """Watch the tree; then ask git again what changed since `view`, as a change made before
        its folder was watched raises no event. Its untracked files are known from the folders
        kept in `state`, as at the start: git's walk over every folder would take a core for a
        second of a big tree's."""
        base = str(root).rstrip("/")
        self.watcher.watch(base)
        for folder in ancestors(_paths_of(view)):
            if self._stop.is_set():
                return
            self.watcher.watch(f"{base}/{folder}")
        if self._stop.is_set():
            return
        again = GitLook(root, untracked=False, index_then=state.stamp).view(state)
        if again is not None and self.watcher.working:
            self._caught = changed_since(GitState(view.tracked, tuple(view.modified | view.untracked)), again)
            self.view = again

    def _settled(self) -> None:
        """Wait for the watching begun by a resumed listing; without its answer, look at everything."""
        self.watch_later()
        if self._arming is not None:
            self._arming.join()
            self._arming = None
            if self._caught is None:
                self._last = None  # git could not say what changed meanwhile

    def _patched(self, last: tuple[Path, Sequence[FileStat], bool],
                 touched: dict[str, FileStat | None]) -> Sequence[FileStat]:
        """The last listing with the touched files as they are now: changed in place when none
        came or went (an edit), else sorted again."""
        at = self._places()
        listed = list(last[1]) if isinstance(last[1], _Later) else last[1]
        edited = {path: now for path, now in touched.items() if now is not None and path in at}
        if len(edited) == len(touched):
            for path, now in edited.items():
                listed[at[path]] = now  # type: ignore[index]
            self._last = (last[0], listed, last[2])
            return listed
        by_path = {f.path: f for f in listed}
        for path, now in touched.items():
            if now is None:
                by_path.pop(path, None)
            else:
                by_path[path] = now
        found = sorted(by_path.values(), key=lambda f: f.path)
        self._keep((last[0], found, last[2]))
        return found

    def _keep(self, last: tuple[Path, Sequence[FileStat], bool]) -> None:
        self._last = last
        self._at = None

    def _places(self) -> dict[str, int]:
        if self._at is None:
            self._at = {f.path: i for i, f in enumerate(self._last[1])} if self._last is not None else {}
        return self._at

    def _walk(self, base: str) -> list[tuple[str, os.stat_result]]:
        """Every file under `base`; symlinked directories are never entered, so loops cannot trap it."""
        entries: list[tuple[str, os.stat_result]] = []
        known_directories, self.directories = self.directories, {}  # only those still there are kept
        pending = [""]
        lstat, at = os.lstat, base.rstrip("/") + "/"  # joined by hand: os.path.join costs as much as lstat
        while pending:
            rel = pending.pop()
            path = at + rel
            self.watcher.watch(path)  # before reading it, so no change slips between the two
            try:
                mtime = lstat(path).st_mtime_ns
                known = known_directories.get(rel)
                if known is not None and known[0] == mtime and mtime < known[1] - RACY_NS:
                    self.directories[rel] = known
                    subdirs = known[2]
                    try:
                        entries.extend([(name, lstat(at + name)) for name in known[3]])
                    except OSError:  # a file gone without moving the mtime: read the directory after all
                        subdirs = self._read(path, rel, mtime, entries)
                else:
                    subdirs = self._read(path, rel, mtime, entries)
            except OSError:
                continue  # gone since its parent was read, or unreadable
            pending.extend(subdirs)
        self.directories_changed = self.directories_changed or len(self.directories) != len(known_directories)
        return entries

    def _read(self, path: str, rel: str, mtime: int, entries: list[tuple[str, os.stat_result]]) -> list[str]:
        read_at = time.time_ns()
        subdirs, files = _read_directory(path, f"{rel}/" if rel else "", entries)
        self.directories[rel] = (mtime, read_at, subdirs, files)
        self.directories_changed = True
        return subdirs


def _restat(base: str, changes: set[str], known: Container[str], git: bool) -> dict[str, FileStat | None] | None:
    """What the changed files (absolute paths under `base`) are now, `known` being the paths
    listed last, or None when a whole listing must tell: a changed .gitignore, or git failing to
    say whether a new file is ignored."""
    if not changes:
        return {}
    touched: dict[str, FileStat | None] = {}
    new: dict[str, FileStat] = {}  # in git: listed unless git ignores it
    for path in changes:
        rel = path[len(base.rstrip("/")) + 1:]
        if rel.rpartition("/")[2] == ".gitignore":
            return None
        found = _stat_of(base, rel)
        if found is None or rel in known or not git:
            touched[rel] = found
        elif not _vendored(rel):
            new[rel] = found
    if new:
        ignored = _ignored_in_git(base, list(new))
        if ignored is None:
            return None
        touched.update({rel: None if rel in ignored else f for rel, f in new.items()})
    return touched


def _looked(base: str, changed: set[str], view: GitView) -> dict[str, FileStat | None]:
    """What the `changed` files (relative to `base`) are now, git's `view` telling which it lists."""
    # Each looked for in git's index (see GitView.tracks) while they are few; past that, the
    # index read whole (a checkout names thousands).
    lists: Callable[[str], bool] | None = view.tracks if len(changed) <= LOOKED_UP else None
    touched: dict[str, FileStat | None] = {}
    for rel in changed:
        listed = rel in view.untracked or rel in view.modified  # modified: tracked
        if not listed:
            if lists is None:
                lists = set(_paths_of(view)).__contains__
            listed = lists(rel)
        touched[rel] = _stat_of(base, rel) if listed and not _vendored(rel) else None
    return touched


def _paths_of(view: GitView) -> Iterator[str]:
    """The paths git lists, tracked and untracked."""
    yield from view.paths()
    yield from view.untracked


def _stat_of(base: str, rel: str) -> FileStat | None:
    """The file as a candidate, None when it is none (gone, not a regular file, too big, binary
    by its name, or a name that cannot be sent)."""
    try:
        st = os.lstat(f"{base.rstrip('/')}/{rel}")
    except OSError:
        return None
    if _skipped_by_suffix(rel.rpartition("/")[2]) or not _candidate(rel, st):
        return None
    return FileStat(rel, st.st_size, st.st_mtime_ns)


def _candidate(name: str, st: os.stat_result) -> bool:
    """Whether a listed file (its name already past _skipped_by_suffix) can be in the map. Symlinks
    are not: they either duplicate a file or lead out of the tree (or loop)."""
    return stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE_BYTES and _nameable(name)


class _Later(Sequence[FileStat]):
    """A listing made only when it is read (see Lister.resume)."""

    def __init__(self, make: Callable[[], list[FileStat]]) -> None:
        self._make = make
        self._made: list[FileStat] | None = None

    def _listing(self) -> list[FileStat]:
        if self._made is None:
            self._made = self._make()
        return self._made

    def __getitem__(self, at):  # type: ignore[no-untyped-def]
        return self._listing()[at]

    def __len__(self) -> int:
        return len(self._listing())


def _ignored_in_git(base: str, paths: list[str]) -> set[str] | None:
    """Which of `paths` (relative to `base`) git ignores, a tracked file never being ignored, as
    in ls-files; None when git cannot say (`base` outside a work tree, say)."""
    try:
        done = subprocess.run(["git", "check-ignore", "-z", "--stdin"], cwd=base, capture_output=True, timeout=60,
                              input="\0".join(paths).encode("utf-8", "surrogateescape"))
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode not in (0, 1):  # 1: none of them is ignored
        return None
    return set(done.stdout.decode("utf-8", "surrogateescape").split("\0")) - {""}


def _git_files(root: Path, view: GitView | None) -> list[str] | None:
    """The files git lists under `root` (tracked, and untracked but not ignored), or None when
    `root` is not in a git work tree."""
    if view is None:
        return None
    names = sorted(set(_paths_of(view)))  # the index holds a file thrice while a merge is in conflict
    if not names and "." in (_ignored_in_git(str(root), ["."]) or ()):
        return None  # a tree git ignores (an unpacked archive, say) is walked like one outside git
    return names


def _stat_all(base: str, names: list[str]) -> Iterator[tuple[str, os.stat_result]]:
    """Each listed file that is no vendored or binary one, stat'ed; one at a time, as 10^5
    stat results held together took a tenth of a gigabyte."""
    lstat, at = os.lstat, base.rstrip("/") + "/"  # joined by hand: os.path.join costs as much as lstat
    vendored: dict[str, bool] = {}  # by folder: a large tree has 10^5 files in 10^4 folders
    for name in names:
        folder = name.rpartition("/")[0]
        inside = vendored.get(folder)
        if inside is None:
            inside = vendored[folder] = _vendored(name)
        if inside or _skipped_by_suffix(name):
            continue
        try:
            yield name, lstat(at + name)
        except OSError:
            continue  # deleted since git listed it, or unreadable


def _read_directory(path: str, prefix: str, entries: list[tuple[str, os.stat_result]]) -> tuple[list[str], list[str]]:
    """Adds the directory's files to `entries`; returns its subdirectories to walk and its files."""
    subdirs, files = [], []
    with os.scandir(path) as it:
        for entry in it:
            name = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in WALK_SKIP_DIRS and not entry.name.startswith("."):
                    subdirs.append(name)
            elif entry.is_file(follow_symlinks=False) and not _skipped_by_suffix(entry.name):
                entries.append((name, entry.stat(follow_symlinks=False)))
                files.append(name)
    return subdirs, files


def _vendored(name: str) -> bool:
    return any(part in VENDORED_DIRS for part in name.split("/")[:-1])


def _nameable(name: str) -> bool:
    """Whether the path can be named to the model: a name that is not UTF-8 (held as surrogate
    escapes) could be neither sent nor cached, nor written back by the model."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _skipped_by_suffix(name: str) -> bool:
    lower = name.lower()
    return lower[lower.rfind("."):] in BINARY_SUFFIXES or lower.endswith(GENERATED_SUFFIXES)
