"""The repo map: the whole codebase ranked for the task and rendered into a token budget.

`RepoMap.refresh()` brings the tag cache up to date (only changed files are read again, in
parallel processes when there are many) and patches the ranking index for the files that changed,
came or went (builds it afresh when many did); `render()` ranks for a task and renders in tiers. A
RepoMap lives for a session, so a turn with nothing changed costs a ranking, and a turn after an
edit the edited files (where inotify cannot watch the tree, add a look at every file).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from agent.model.tokens import ascii_encoding, count_tokens, forget_encoding
from agent.repomap.cache import TagCache, database_path, default_cache_dir
from agent.repomap.columns import Cached, Columns, InOrder
from agent.repomap.files import RACY_NS, FileStat, Lister
from agent.repomap.gitstate import GitLook, GitState
from agent.repomap.memory import give_back_free_heap, give_back_freed_arrays
from agent.repomap.render import (
    FULL_CANDIDATES,
    PLANNED_TIERS,
    Rendered,
    plan,
    tier_costs,
    write,
)
from agent.repomap.source import Source, counted, digest_of, read_source
from agent.secrets import DEFAULT_SECRET_FILES, is_secret_file

if TYPE_CHECKING:
    import numpy as np

    from agent.repomap.apart import MapProcess
    from agent.repomap.rank import (  # numpy: loaded when an index is built or read
        Index,
        IndexBuilder,
    )
    from tools.base import (
        ToolContext,  # it brings pydantic, which a warm start has no use for
    )

DEFAULT_BUDGET = 262_144 // 4


def session_map(ctx: ToolContext) -> RepoMap | MapProcess:
    """The session's one map: the per-turn map, the symbols tool and /map share its index. Made
    here on first use, unless the session put it in a process of its own (apart.py)."""
    if ctx.repo_map is None:
        ctx.repo_map = RepoMap(ctx.workspace, secret_files=ctx.secret_files)
    return ctx.repo_map
# Below this many files to read, starting processes costs more than it saves.
PARALLEL_MIN_FILES = 64
# What workers parse is saved in batches of this many files while they go on, rather than all at
# the end of a cold build with one core idle.
SAVE_BATCH = 500
# Up to this many files read again (an edit, a small pull), the ranking index is patched rather
# than built again (see Index.updated).
PATCH_MAX_FILES = 50


@dataclass
class Stats:
    files: int = 0  # in the map
    skipped: int = 0  # binary, generated, minified
    tags: int = 0
    parsed: int = 0  # read afresh in the last refresh
    cache_hits: int = 0
    seconds: float = 0.0
    cache_rebuilt: bool = False


@dataclass
class Symbol:
    definitions: list[tuple[str, int, str]] = field(default_factory=list)  # path, line, header
    references: list[tuple[str, int]] = field(default_factory=list)  # path, line: the first ones
    reference_count: int = 0  # of all


class RepoMap:
    def __init__(self, root: Path, cache_dir: Path | None = None, workers: int | None = None,
                 secret_files: Sequence[str] = DEFAULT_SECRET_FILES, watch: bool = True) -> None:
        give_back_freed_arrays()
        self.root = root.resolve()
        # Whether to watch the tree once a map is out, for the next turns: not for a map made
        # once (`heron map`, a review), whose process would end while it began to.
        self.watch = watch
        self.secret_files = tuple(secret_files)  # named in the map, their text never shown
        self.cache = TagCache(database_path(self.root, cache_dir or default_cache_dir()))
        self.workers = workers or os.cpu_count() or 1
        self.sources = Cached(Columns.of_rows([]))  # every cached file, in the map or skipped
        self.recent: list[str] = []  # files changed since the session began, latest last
        self.index: Index | None = None
        self.paths: list[str] = []  # of the files in the map, in order
        self._at: dict[str, int] | None = None  # path -> its place in self.paths, made when needed
        # Each mapped file's cost at the planned tiers, by its place in self.ordered: kept, as
        # reading them from 180,000 sources each turn took as long as planning.
        self.tier_costs: dict[str, np.ndarray] = {}
        self.stats = Stats()
        self.lister = Lister()
        self._loaded = False
        self._unsaved = False  # whether the index was built or patched since a snapshot was saved

    def refresh(self) -> bool:
        """Bring the map up to date with the files on disk; True when anything changed."""
        with _collector_paused():
            try:
                return self._refresh()
            except BaseException:
                self.lister.forget()  # what it listed was not taken in: list it all again
                raise

    def _refresh(self) -> bool:
        started = time.perf_counter()
        first = not self._loaded
        if first:
            self.lister.directories = self.cache.load_directories()
            self._load()
        listing = self.lister.list(self.root)
        if first and self.lister.walked_all:
            # A rule file touched (~/.gitconfig rewritten the same, say) makes git walk every
            # folder until the folders are kept again: 0.9 s of each start of a big tree.
            self._unsaved = True
        if self.lister.unchanged and self.index is not None and not first:
            self.stats.parsed, self.stats.cache_hits = 0, len(self.sources)
            self.stats.seconds = time.perf_counter() - started
            return False
        if self.lister.directories_changed:
            self.cache.save_directories(self.lister.directories)
        touched = self.lister.touched
        if touched is None:
            stale = [f for f in listing if not self._fresh(f)]
            listed = {f.path for f in listing}
            deleted = [p for p in self.sources if p not in listed]
        else:  # inotify named the files that changed
            stale = [f for f in touched.values() if f is not None and not self._fresh(f)]
            deleted = [p for p, f in touched.items() if f is None and p in self.sources]
        previous = None  # what changed files were, to patch the index with
        if self.index is not None and len(stale) + len(deleted) <= PATCH_MAX_FILES:
            previous = {p: self.sources[p] for p in [*(f.path for f in stale), *deleted] if p in self.sources}
            self.cache.load_heads(previous.values())  # what they defined, before the cache forgets it
        # An index to build rather than patch takes in each file as it is parsed, when all are
        # (a cold build: they come in the order they are numbered in, see IndexBuilder); else
        # all from the cache, in that order.
        cold = previous is None and not self.sources
        builder = self._builder() if cold and stale else None
        parsed: list[Source] = []
        # Of a cold build, the files as the columns hold them, no Source kept: those of a
        # 180,000-file tree took 150 MB.
        rows: list[tuple] = []
        read: list[str] = []
        for batch in self._read(stale):  # saved as they come: meanwhile the workers parse on
            recorded = self.cache.save(batch)
            for source in batch:
                if builder is not None and not source.skipped:
                    builder.add(source)
                source.release()  # the cache has it now
                read.append(source.path)
            if cold:
                rows.extend(Columns.row(s, recorded) for s in batch)
            else:
                self.sources.record((s.path for s in batch), recorded)
                parsed.extend(batch)
        if cold:
            self.sources = Cached(Columns.of_rows(rows))
            del rows
        for path in deleted:
            del self.sources[path]
        for source in parsed:
            self.sources[source.path] = source
        changed = bool(read or deleted) or self.index is None
        stats = changed or first
        if deleted:
            self.cache.save((), deleted)
        if self._loaded:
            fresh = set(read)
            self.recent = [p for p in self.recent if p in self.sources and p not in fresh] + sorted(fresh)
        self._loaded = True
        if changed:
            moved = self._order(parsed, deleted)
            patched = self._patched(previous, moved)
            if patched is None:
                # Let go of the old index before building the next: on a tree of 100,000 files
                # the two together would not fit in memory. Likewise of what else the process
                # can; of the tokenizer too when building from the cache, which counts nothing
                # (a cold build's first map counts, and would load it again).
                self.index = None
                if builder is None:
                    forget_encoding()
                self.cache.release_pages()
                give_back_free_heap()
                patched = self._index(save=first, builder=builder)
                builder = None
                give_back_free_heap()  # what the build freed among what the map keeps
            self.index = patched
        if stats:
            assert self.index is not None
            self.stats = Stats(files=len(self.paths), skipped=len(self.sources) - len(self.paths),
                               tags=self.index.tag_count)
        self.stats.parsed = len(read)
        self.stats.cache_hits = len(self.sources) - len(stale)
        self.stats.seconds = time.perf_counter() - started
        self.stats.cache_rebuilt = self.cache.rebuilt
        return changed

    @property
    def ordered(self) -> InOrder:
        """The Sources of the files in the map, in path order."""
        return InOrder(self.paths, self.sources.__getitem__)

    def _load(self) -> None:
        """What the cache holds: the snapshot's columns when the database is as it was when they
        were saved (a warm start then reads no row), else the database's own. The index saved
        for the cached contents is taken before looking at the disk: then a file changed since
        the last process patches it, as in a session, rather than build anew."""
        # git answers while the snapshot is read; of untracked files, the folders kept in it tell.
        look = GitLook(self.root, untracked=False, index_then=self.cache.saved_index_stamp())
        saved = self.cache.snapshot()
        columns = saved.columns if saved is not None else self.cache.load()
        if saved is None:
            saved = self.cache.snapshot(columns.fingerprint())
            self._unsaved = saved is not None  # saved again, so that the next start need not read the database
        self.sources = Cached(columns)
        if saved is not None and saved.git is not None:  # git tells what changed since
            self.lister.resume(self.root, saved.git, look, self._listing)
        else:
            look.stop()
            self.lister.start(self.root, self.sources)  # git lists the files while the index is read
        self._order()
        if saved is not None and saved.index.paths == self.paths:
            self.index = saved.index
            # PageRank's matrix (and, for a large graph, scipy) made while git answers: the first map needs it.
            if saved.git is not None:
                self.index.prepare()

    def _listing(self) -> list[FileStat]:
        return [FileStat(*stat) for stat in self.sources.stats()]

    def _save_snapshot(self, columns: Columns, index: Index, git: GitState | None) -> None:
        # The index's paths made the very strings of the columns', so that they are saved once
        # and read once (two lists of 180,000 strings took 40 ms of a warm start).
        shared = [columns.paths[row] for row in columns.mapped()]
        if shared == index.paths:  # always, but for a map whose files are being read
            index.paths[:] = shared
        # Its patched edges folded in: PageRank then walks one matrix, not two (0.06 s of a
        # warm start of a 180,000-file tree).
        self.cache.save_snapshot(columns, index.folded() if index.patch is not None else index, git)

    def _git_state(self, columns: Columns) -> GitState | None:
        return self.lister.git_state(self.root, columns.paths, dict(zip(columns.paths, columns.values["digest"])).get)

    def _order(self, parsed: Sequence[Source] | None = None, deleted: Sequence[str] = ()) -> bool:
        """Put the mapped files in path order; True when files came into the map or left it.
        When none did (an edit), the files read again keep their places: sorting the 180,000
        files of a big tree again took a quarter of a second a turn."""
        if parsed is not None and self.paths and not deleted:
            at = self._places()
            if all((s.path in at) != bool(s.skipped) for s in parsed):
                edited = [s.path for s in parsed if not s.skipped]
                places = [at[path] for path in edited]
                for tier, costs in self._costs(edited).items():
                    self.tier_costs[tier][places] = costs
                return False
        self._at = None
        self.paths = self.sources.mapped()
        self.tier_costs = self._costs()
        return True

    def _costs(self, paths: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The costs of these files (None: of all in the map) at each planned tier."""
        path_tokens, *tokens = self.sources.numbers(["path_tokens", *PLANNED_TIERS.values()], paths)
        return {tier: tier_costs(counts, path_tokens, tier) for tier, counts in zip(PLANNED_TIERS, tokens, strict=True)}

    def _languages(self) -> list[str | None]:
        """Of the files in the map, in order; no Source made for it."""
        return [self.sources.value(path, "language") for path in self.paths]

    def _places(self) -> dict[str, int]:
        if self._at is None:
            self._at = {path: i for i, path in enumerate(self.paths)}
        return self._at

    @staticmethod
    def _builder() -> IndexBuilder:
        from agent.repomap.rank import IndexBuilder

        return IndexBuilder()

    def _index(self, save: bool, builder: IndexBuilder | None = None) -> Index:
        """The ranking index: from the cache when it was saved for these very contents, else
        built, `builder` having taken in the files just parsed. A new one is saved at once when
        the map starts, else when it closes: an edit should not wait for it."""
        columns = self.sources.as_columns()
        saved = self.cache.snapshot(columns.fingerprint())
        if saved is not None and saved.index.paths == self.paths:
            self._unsaved = True  # its columns may be older
            return saved.index
        del saved
        git = self._git_state(columns) if save else None  # before the build, whose memory is the most
        builder = builder or self._builder()
        for source in self.cache.filled(InOrder([path for path in self.paths if path not in builder], self.sources.detached)):
            builder.add(source)
        index = builder.finish(self.paths, self._languages())
        self._unsaved = not save
        if not save:
            return index
        self._save_snapshot(columns, index, git)
        # The index as saved, read in place: its arrays are then pages of the file the system
        # can take back, not a quarter of a gigabyte of the process's own (a 180,000-file tree).
        saved = self.cache.snapshot(columns.fingerprint())
        if saved is None or saved.index.paths != self.paths:
            return index
        saved.index.paths = self.paths  # the map's own strings, not a second copy of 180,000
        return saved.index

    def _patched(self, previous: dict[str, Source] | None, moved: bool) -> Index | None:
        """The index patched for the files read again or gone, `previous` having what each was
        and `moved` whether files came or went; None when it cannot be (then the index is built
        afresh)."""
        index = self.index
        if index is None or previous is None or not all(old.has_head for old in previous.values()):
            return None  # what they defined is lost (the cache was replaced since)
        changed = {index.position[p]: old for p, old in previous.items() if p in index.position}
        if not moved:  # the index is that of self.ordered, whose files are the same ones
            return self._updated(index, self.ordered, changed)
        paths = self.paths
        sources: Sequence[Source] = self.ordered
        if index.paths != paths:  # files came or went: empty those that went, in the old numbering
            now = self._places()
            if not all(p in previous for p in index.paths if p not in now):
                return None
            sources = InOrder(index.paths, lambda path: self.sources[path] if path in now else _nothing(path))
        patched = self._updated(index, sources, changed)
        if patched is None or patched.paths == paths:
            return patched
        # Then number the files as the map does now, and fill in those that came.
        came = [p for p in paths if p not in index.position]
        patched = patched.renumbered(paths, self._languages())
        return self._updated(patched, self.ordered, {patched.position[p]: _nothing(p) for p in came})

    def _updated(self, index: Index, sources: list[Source], changed: dict[int, Source]) -> Index | None:
        """`index` updated for the files at `changed` (what each was), reading back from the cache
        the bodies of the files that may refer to them; None when one is lost."""
        if not changed:
            return index
        self.cache.load_heads(sources[i] for i in changed)
        referrers = index.referrers(sources, changed)
        if referrers is None:
            referrers = list(range(len(sources)))
        self.cache.load_bodies(sources[i] for i in [*changed, *referrers])
        if not all(sources[i].has_body for i in [*changed, *referrers]) or not all(
                sources[i].has_head for i in changed):
            return None
        self._unsaved = True
        return index.updated(sources, changed, referrers)

    def ranked(self, task: str = "", focus: Sequence[str] = ()) -> InOrder:
        return self._ranked(self._rank(task, focus))

    def _ranked(self, order: list[int]) -> InOrder:
        paths = self.paths
        return InOrder([paths[i] for i in order], self.sources.__getitem__)

    def _rank(self, task: str, focus: Sequence[str]) -> list[int]:
        """The places of the mapped files in self.ordered, best first."""
        if self.index is None:
            self.refresh()
        assert self.index is not None
        return self.index.rank(task, tuple(focus), tuple(self.recent[-10:]))

    def render(self, task: str = "", focus: Sequence[str] = (), budget: int = DEFAULT_BUDGET) -> Rendered:
        order = self._rank(task, focus)
        ranked = self._ranked(order)
        self._count_full(ranked[:FULL_CANDIDATES])
        costs = {tier: values[order] for tier, values in self.tier_costs.items()}
        planned = plan(ranked, budget, costs, lambda path: is_secret_file(path, self.secret_files))
        shown = (self.sources[path] for path, tier in planned.tiers.items() if tier in ("signatures", "names"))
        self.cache.load_heads(shown)
        rendered = write(self.root, ranked, planned)
        if self.watch:
            self.lister.watch_later()
        return rendered

    def _count_full(self, sources: list[Source]) -> None:
        """Count the whole text of the files that may be shown whole, once, and keep the counts.
        The snapshot's columns may be older than the counts: the database is asked first, as
        counting would load the tokenizer (a quarter of a second of a warm start)."""
        self.cache.load_full_tokens(s for s in sources if s.full_tokens is None)
        uncounted = [s for s in sources if s.full_tokens is None]
        for s in uncounted:
            try:
                s.full_tokens = count_tokens((self.root / s.path).read_text(encoding="utf-8", errors="replace"))
            except OSError:
                s.full_tokens = s.size
        if uncounted:
            self.cache.save_full_tokens(uncounted)

    def symbol(self, name: str, lines: int = 0) -> Symbol:
        """Where `name` is defined, and used: all uses counted, and the lines of at least the
        first `lines` of them found (by parsing again the files that use it, in path order)."""
        if self.index is None:
            self.refresh()
        self.cache.load_bodies(self.ordered)
        self.cache.load_heads(self.ordered)
        found = Symbol()
        for s in self.ordered:
            headers = s.signatures.splitlines()
            for def_name, line in s.defs:
                if def_name == name:
                    found.definitions.append((s.path, line, _header_for(headers, name)))
            uses = s.refs.get(name, 0)
            found.reference_count += uses
            if uses and len(found.references) < lines and s.language:
                found.references.extend((s.path, line) for line in self._reference_lines(s.path, s.language, name))
        return found

    def _reference_lines(self, path: str, language: str, name: str) -> list[int]:
        from agent.repomap.tags import reference_lines  # here, as in read_source

        try:
            data = (self.root / path).read_bytes()
        except OSError:
            return []  # gone since the refresh
        return reference_lines(data, language, name)

    def close(self) -> None:
        if self._unsaved and self.index is not None:  # the index is always that of self.paths
            columns = self.sources.as_columns()
            self._save_snapshot(columns, self.index, self._git_state(columns))
            self._unsaved = False
        self.cache.close()
        self.lister.close()

    def _fresh(self, f: FileStat) -> bool:
        source = self.sources.get(f.path)
        if source is None or source.size != f.size or source.mtime_ns != f.mtime_ns:
            return False
        if f.mtime_ns < self.sources.recorded(f.path) - RACY_NS:
            return True
        # Written within the mtime's granularity of being read: only the content can tell.
        try:
            same = digest_of((self.root / f.path).read_bytes()) == source.digest
        except OSError:
            return False
        if same:
            self.sources.record((f.path,), time.time_ns())
        return same

    def _read(self, stale: list[FileStat]) -> Iterator[list[Source]]:
        """The stale files read again, in batches."""
        args = [(str(self.root), f.path, f.size, f.mtime_ns) for f in stale]
        if len(args) < PARALLEL_MIN_FILES or self.workers < 2:
            if args:
                yield [counted(read_source(*a)) for a in args]
            return
        import multiprocessing  # here: a warm start starts no processes and need not load these
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            # Small chunks, so that no worker is left alone with a long one at the end.
            parsed = pool.map(read_source, *zip(*args), chunksize=max(1, len(args) // (self.workers * 32)))
            # While the workers parse: the tokenizer (code's), and numpy for the ranking index.
            ascii_encoding()
            import agent.repomap.rank  # noqa: F401
            batch: list[Source] = []
            for f, source in zip(stale, parsed, strict=True):
                source.path = f.path  # the listing's string, not a copy of it from the worker
                source.language = source.language and sys.intern(source.language)  # one "python", not 10^5
                batch.append(counted(source))
                if len(batch) == SAVE_BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while the map builds millions of small objects, none in a
    cycle: it would walk them all again and again (two thirds of the time spent unpickling what
    the workers parsed, which are forked with it off too)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the map keeps lives as long as it, and is freed by its count of references as
        # ever; frozen, the collector no longer walks its millions of objects at each full
        # collection (the first, at the end of a warm start, took 50 ms).
        gc.freeze()
        if enabled:
            gc.enable()


def _nothing(path: str) -> Source:
    """A file with no tags and no words: what a file that came was, and what one that went is."""
    return Source(path, 0, 0, "")


def _header_for(headers: list[str], name: str) -> str:
    return next((h.strip() for h in headers if name in h and not h.lstrip().startswith(("#", "//", '"'))), "")
