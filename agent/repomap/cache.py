"""The tag cache: what was read from each file, in SQLite under the user cache directory.

One database per repository. An entry is valid while the file's path, size and mtime are the
ones recorded; when the mtime is too close to the moment of recording to tell two writes apart
(the "racy" case), the content hash decides. What a task mentions is never part of a key.
A corrupt or locked database is replaced by a fresh one (in memory if need be), never fatal.
Beside it, the ranking index last built is kept in a file of its own with the columns of the
files it was built from (a Snapshot); a damaged one is built again.
"""

from __future__ import annotations

import hashlib
import marshal
import mmap
import os
import pickle
import sqlite3
import struct
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Sequence

from platformdirs import user_cache_dir

from agent.repomap.columns import SCALARS, Columns
from agent.repomap.gitstate import GitState
from agent.repomap.source import Source

SCHEMA_VERSION = "19"  # bumped whenever Source changes shape: every file is read again
# Bumped whenever the pickled Snapshot or Index changes shape or order, or what the index keeps
# per path (the ranking's file factors): only the index is built again.
INDEX_VERSION = "12"
# Up to this many rows (heads, bodies, counts) are looked up by path, so many a query (SQLite allows 999
# parameters); beyond, one scan of the table is quicker.
ROWS_BY_PATH = 2000
ROWS_A_QUERY = 500
FILL_CHUNK = 1000  # files whose heads and bodies are in memory at once while an index is built


@dataclass
class Snapshot:
    """The ranking index and the columns of the cached files it was built from."""

    columns: Columns
    fingerprint: str  # of the mapped files' contents (Columns.fingerprint)
    index: Any  # rank.Index of the columns' mapped files: loading rank.py (numpy) waits for a map
    # The database's generation these columns are of (see TagCache.generation); "-" when another
    # process wrote to it meanwhile, so its rows may be newer.
    generation: str
    git: GitState | None = None  # what git said of the work tree then; None outside git


def default_cache_dir() -> Path:
    return Path(user_cache_dir("heron")) / "repomap"


def database_path(root: Path, cache_dir: Path) -> Path:
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"{root.resolve().name}-{key}.sqlite3"


class TagCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.snapshot_path = path.with_suffix(".index")  # see save_snapshot
        self.rebuilt = False  # whether a corrupt or locked database had to be replaced
        self.db = self._open()
        # Counts the saves of every process: a snapshot of the same generation holds the columns
        # as the database has them, so a warm start need not read them from it.
        self.generation = self._generation()
        self.foreign = False  # whether another process saved since this one read the generation
        self._mapped: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()  # snapshots read, while in use

    def load(self) -> Columns:
        """Every entry's scalars, with the time it was recorded."""
        return Columns.of_rows(self._query(f"SELECT path, recorded_ns, {', '.join(SCALARS)} FROM files"))

    def load_heads(self, sources: Iterable[Source]) -> None:
        """Fill in the definitions and signatures of the sources that lack them."""
        wanted = {s.path: s for s in sources if not s.has_head}
        for path, head in self._by_path("head", list(wanted)):
            source = wanted.get(path)
            if source is not None:
                source.defs, source.signatures = marshal.loads(head)
                source.has_head = True

    def load_bodies(self, sources: Iterable[Source]) -> None:
        """Fill in the refs and words of the sources that lack them."""
        wanted = {s.path: s for s in sources if not s.has_body}
        for path, body in self._by_path("body", list(wanted)):
            source = wanted.get(path)
            if source is not None:
                source.refs, source.words = marshal.loads(body)
                source.has_body = True

    def filled(self, sources: Sequence[Source]) -> Iterator[Source]:
        """Each source with its head and body, loaded a chunk at a time and let go after."""
        for at in range(0, len(sources), FILL_CHUNK):
            chunk = sources[at:at + FILL_CHUNK]
            loaded = [s for s in chunk if not (s.has_head and s.has_body)]
            self.load_heads(loaded)
            self.load_bodies(loaded)
            yield from chunk
            for s in loaded:
                s.release()

    def _by_path(self, columns: str, paths: list[str]) -> list[tuple]:
        """(path, *columns) of these paths, and maybe of others when there are many of them."""
        if len(paths) > ROWS_BY_PATH:
            return self._query(f"SELECT path, {columns} FROM files")
        return [row for at in range(0, len(paths), ROWS_A_QUERY) for row in self._query(
            f"SELECT path, {columns} FROM files WHERE path IN ({', '.join('?' * len(paths[at:at + ROWS_A_QUERY]))})",
            tuple(paths[at:at + ROWS_A_QUERY]))]

    def save(self, sources: Iterable[Source], deleted: Iterable[str] = ()) -> int:
        """Saves the sources as recorded now; returns that time."""
        recorded = time.time_ns()
        rows = []
        for s in sources:
            rows.append((*Columns.row(s, recorded), *s.blobs()))
            s.packed = None
        self._write(f"INSERT OR REPLACE INTO files VALUES ({', '.join('?' * (len(SCALARS) + 4))})", rows)
        self._write("DELETE FROM files WHERE path = ?", [(p,) for p in deleted])
        self._write("UPDATE meta SET value = value + 1 WHERE key = 'generation'", [()])
        now = self._generation()
        born, _, count = self.generation.rpartition(".")
        self.foreign = self.foreign or now != f"{born}.{int(count) + 1}"
        self.generation = now
        return recorded

    def load_full_tokens(self, sources: Iterable[Source]) -> None:
        """Fill in the whole-text counts the database holds for these very contents."""
        wanted = {s.path: s for s in sources}
        for path, digest, tokens in self._by_path("digest, full_tokens", list(wanted)):
            source = wanted.get(path)
            if source is not None and tokens is not None and digest == source.digest:
                source.full_tokens = tokens

    def save_full_tokens(self, sources: Iterable[Source]) -> None:
        self._write("UPDATE files SET full_tokens = ? WHERE path = ? AND digest = ?",
                    [(s.full_tokens, s.path, s.digest) for s in sources])

    def load_directories(self) -> dict[str, tuple[int, int, list[str], list[str]]]:
        """What the last walk outside git remembered of each directory (see files.Lister)."""
        rows = self._query("SELECT data FROM directories")
        try:
            found = marshal.loads(rows[0][0]) if rows else {}
        except (EOFError, ValueError, TypeError):
            return {}
        return found if isinstance(found, dict) else {}

    def save_directories(self, directories: dict[str, tuple[int, int, list[str], list[str]]]) -> None:
        self._write("DELETE FROM directories", [()])
        self._write("INSERT INTO directories VALUES (?)", [(marshal.dumps(directories),)])

    def snapshot(self, fingerprint: str | None = None) -> Snapshot | None:
        """The snapshot last saved, if it is of this database as it is now, or of the mapped
        contents `fingerprint` names; else None."""
        try:
            with open(self.snapshot_path, "rb") as file:  # the header first: another is not read
                header = file.readline()
                version, generation, found, _ = _fields(header)
                if version != SNAPSHOT_VERSION or not (generation == self.generation or found == fingerprint):
                    return None
                # Read-only: its arrays are never written, and the system may drop their pages.
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            saved, end = _unpacked(memoryview(mapped), len(header))
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError,
                IndexError, struct.error):
            return None
        _drop_pages(mapped, 0, end)  # the pickle, read once (72 MB of a 180,000-file tree's)
        self._mapped.add(mapped)
        return saved if isinstance(saved, Snapshot) else None

    def saved_index_stamp(self) -> str | None:
        """The stamp of git's index (gitstate.index_stamp) the last snapshot's git state was read
        from, from its header alone: known before git is asked anything at a warm start."""
        try:
            with open(self.snapshot_path, "rb") as file:
                stamp = _fields(file.readline())[3]
        except (OSError, ValueError):
            return None
        return stamp if stamp != "-" else None

    def release_pages(self) -> None:
        """Let the system have back the pages of the snapshots read, as a build or a save is
        about to peak: they are read again from the file (the page cache) when next used. The
        pages of an index let go of stay in the process until its file's mapping is, which
        the columns read with it keep."""
        for mapped in list(self._mapped):
            _drop_pages(mapped, 0, len(mapped))

    def save_snapshot(self, columns: Columns, index: Any, git: GitState | None) -> None:
        """Saved in a file of its own: written into SQLite, its 8 MB (Django's) took three times as long."""
        value = Snapshot(columns, columns.fingerprint(), index, "-" if self.foreign else self.generation, git)
        partial = self.snapshot_path.with_suffix(f".{os.getpid()}.tmp")
        try:
            with open(partial, "wb") as file:
                stamp = git.stamp if git is not None and git.stamp else "-"
                file.write(f"{SNAPSHOT_VERSION} {value.generation} {value.fingerprint} {stamp}\n".encode())
                _pack(value, file, self.release_pages)  # what a snapshot read holds, written from its pages
            partial.replace(self.snapshot_path)
        except OSError:  # a read-only cache: the index is built again next time
            partial.unlink(missing_ok=True)

    def _generation(self) -> str:
        """The database's birth (a new one is never taken for an old one) and its count of saves."""
        found = dict(self._query("SELECT key, value FROM meta WHERE key IN ('born', 'generation')"))
        return f"{found.get('born', '')}.{found.get('generation', 0)}"

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as e:
            self._replace(e)
            return []

    def _write(self, sql: str, rows: list[tuple]) -> None:
        try:
            with self.db:
                self.db.executemany(sql, rows)
        except sqlite3.DatabaseError as e:
            self._replace(e)
            with self.db:
                self.db.executemany(sql, rows)

    def close(self) -> None:
        self.db.close()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=0.5, check_same_thread=False)
            return _prepared(db)
        except (sqlite3.DatabaseError, OSError):
            self.rebuilt = True
            self.path.unlink(missing_ok=True)
            try:
                return _prepared(sqlite3.connect(self.path, timeout=0.5, check_same_thread=False))
            except (sqlite3.DatabaseError, OSError):
                return _prepared(sqlite3.connect(":memory:", check_same_thread=False))

    def _replace(self, error: sqlite3.DatabaseError) -> None:
        """Start afresh: in memory while another process holds the lock, on disk when damaged."""
        self.rebuilt = True
        try:
            self.db.close()
        except sqlite3.Error:
            pass
        if "locked" in str(error):
            self.db = _prepared(sqlite3.connect(":memory:", check_same_thread=False))
            return
        try:
            self.path.unlink(missing_ok=True)
            self.db = _prepared(sqlite3.connect(self.path, timeout=0.5, check_same_thread=False))
        except (sqlite3.DatabaseError, OSError):
            self.db = _prepared(sqlite3.connect(":memory:", check_same_thread=False))


SNAPSHOT_VERSION = f"heron index {SCHEMA_VERSION}.{INDEX_VERSION}"
# The snapshot's arrays are written after its pickle, each at a multiple of this, and read in
# place from the file mapped into memory: a warm start copies none of the 200 MB of a 100,000-file
# tree's index, and reads from disk only the pages a ranking touches.
ALIGN = 64


def _fields(header: bytes) -> list[str]:
    """A snapshot's header line as save_snapshot writes it: version, generation, fingerprint and
    the stamp of git's index; ValueError when it is not one."""
    fields = header.decode("ascii", "replace").strip().rsplit(" ", 3)
    if len(fields) != 4:
        raise ValueError("not a snapshot's header")
    return fields


def _pack(value: Any, file: BinaryIO, written: Callable[[], None]) -> None:
    """The pickle of `value` with its arrays' buffers out of band: its length, the pickle, the
    count and sizes of the buffers, then each buffer aligned, `written` called after each."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    raws = [buffer.raw() for buffer in buffers]
    for part in (struct.pack("<Q", len(data)), data, struct.pack(f"<Q{len(raws)}Q", len(raws), *(r.nbytes for r in raws))):
        file.write(part)  # each on its own: joined, the pickle (50 MB of a big tree's) was copied
    at = file.tell()
    for raw in raws:
        file.write(b"\0" * (-at % ALIGN))
        at += -at % ALIGN
        file.write(raw)
        at += raw.nbytes
        written()


def _unpacked(data: memoryview, at: int) -> tuple[Any, int]:
    """What _pack wrote at `at` of the file `data` holds, its arrays left where they are; and
    where its pickle ends."""
    (size,) = struct.unpack_from("<Q", data, at)
    pickled = data[at + 8:at + 8 + size]
    at += 8 + size
    end = at
    (count,) = struct.unpack_from("<Q", data, at)
    sizes = struct.unpack_from(f"<{count}Q", data, at + 8)
    at += 8 + 8 * count
    buffers = []
    for nbytes in sizes:
        at += -at % ALIGN
        if at + nbytes > len(data):
            raise EOFError("the snapshot is cut short")
        buffers.append(data[at:at + nbytes])
        at += nbytes
    return pickle.loads(pickled, buffers=buffers), end


def _drop_pages(mapped: mmap.mmap, start: int, end: int) -> None:
    """Drop from the process the pages of a read-only file mapping from `start` to `end`."""
    if hasattr(mmap, "MADV_DONTNEED") and end - start >= mmap.PAGESIZE:
        mapped.madvise(mmap.MADV_DONTNEED, start, (end - start) // mmap.PAGESIZE * mmap.PAGESIZE)


def _prepared(db: sqlite3.Connection) -> sqlite3.Connection:
    db.execute("PRAGMA journal_mode=WAL")
    # A cache: nothing waits for the disk. A crash of heron loses nothing; one of the machine may
    # damage the file, which is then rebuilt. Syncing cost a cold build of sympy 15 ms a checkpoint.
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if row is None or row[0] != SCHEMA_VERSION:
        db.execute("DROP TABLE IF EXISTS files")
        db.execute("DROP TABLE IF EXISTS snapshot")  # kept in SQLite up to version 17
        db.execute("DROP TABLE IF EXISTS directories")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('born', ?)", (os.urandom(8).hex(),))
        db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', 0)")
    db.execute(f"CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, recorded_ns INTEGER, "
               f"{', '.join(SCALARS)}, head BLOB, body BLOB)")
    db.execute("CREATE TABLE IF NOT EXISTS directories (data BLOB)")
    db.commit()
    return db
