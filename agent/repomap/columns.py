"""The cached files as columns, and as a mapping that makes a file's Source when it is asked for.

A warm start over a tree of 180,000 files needs the ranking index and a few numbers per file
(the token costs the planner reads); making a Source of every file took a quarter of it. So the
cache's scalars are kept a column each, saved beside the index, and a Source is made only for the
files a turn looks at: those shown, edited, or read again.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Iterable,
    Iterator,
    MutableMapping,
    Sequence,
    overload,
)

from agent.repomap.source import Source

if TYPE_CHECKING:
    import numpy as np

# The Source fields kept as columns, read on every start.
SCALARS = ("size", "mtime_ns", "digest", "skipped", "language", "signature_tokens", "name_tokens",
           "path_tokens", "listing_tokens", "folder_tokens", "full_tokens")
# Those the planner reads of every file, each turn (see Columns.numbers).
NUMBERS = ("signature_tokens", "name_tokens", "path_tokens", "listing_tokens", "folder_tokens", "full_tokens")


@dataclass
class Columns:
    """Every cached file's scalars (SCALARS) and the time it was recorded, by row, rows in path order."""

    paths: list[str]
    recorded: list[int]
    values: dict[str, list]  # scalar -> one value per row

    @classmethod
    def of_rows(cls, rows: list[tuple]) -> Columns:
        """From rows of (path, recorded, *SCALARS) in any order."""
        rows = sorted(rows)
        columns = list(zip(*rows)) if rows else [()] * (len(SCALARS) + 2)
        return cls(list(columns[0]), list(columns[1]), {name: list(column) for name, column in zip(SCALARS, columns[2:])})

    @staticmethod
    def row(source: Source, recorded: int) -> tuple:
        """A file's row: its path, when it was recorded and its SCALARS."""
        return (source.path, recorded, *(getattr(source, name) for name in SCALARS))

    @cached_property
    def rows(self) -> dict[str, int]:
        """Path -> row: for looking up many (a few are found by row_of, as making this for
        180,000 files took 40 ms of a warm start)."""
        return dict(zip(self.paths, range(len(self.paths))))

    def row_of(self, path: str) -> int | None:
        """The row of a file, None when it has none; by bisection, the paths being sorted."""
        row = bisect_left(self.paths, path)
        return row if row < len(self.paths) and self.paths[row] == path else None

    @cached_property
    def numbers(self) -> dict[str, np.ndarray]:
        """The integer scalars as arrays, None (a count not made yet) as -1. Kept in the snapshot
        (see __getstate__): made from the lists, they took a tenth of a warm start."""
        import numpy as np

        return {name: np.array([-1 if v is None else v for v in self.values[name]], dtype=np.int64)
                for name in NUMBERS}

    def __getstate__(self) -> dict[str, Any]:
        """Its fields and the arrays; not `rows`, quicker made again than read."""
        return {"paths": self.paths, "recorded": self.recorded, "values": self.values, "numbers": self.numbers}

    def source(self, row: int) -> Source:
        """The Source of a row, without its head or body (the cache loads them on demand)."""
        return Source(self.paths[row], **{name: self.values[name][row] for name in SCALARS},
                      has_head=False, has_body=False)

    def mapped(self) -> list[int]:
        """The rows of the files in the map (not skipped), in path order."""
        return self._mapped

    @cached_property
    def _mapped(self) -> list[int]:
        return [row for row, skipped in enumerate(self.values["skipped"]) if skipped is None]

    def fingerprint(self) -> str:
        """Of the contents of the mapped files: the ranking index built from them is valid for
        any cache holding the same ones."""
        digest = hashlib.blake2b(digest_size=16)
        digests = self.values["digest"]
        for row in self.mapped():
            digest.update(f"{self.paths[row]}\0{digests[row]}\n".encode())
        return digest.hexdigest()


class Cached(MutableMapping[str, Source]):
    """Path -> Source of every cached file, over Columns: a Source is made the first time its
    path is asked for. What the map changes (files read again, come or gone) is kept on top."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns
        self._made: dict[str, Source | None] = {}  # made, read again or come; None: gone
        self._count = len(columns.paths)
        self._recorded: dict[str, int] = {}  # recorded since the columns were

    def __getitem__(self, path: str) -> Source:
        return self._source(path, keep=True)

    def detached(self, path: str) -> Source:
        """As self[path], but a Source not made yet is made afresh at each call and not kept: for
        reading every file once (a rebuild), as 180,000 Sources kept took 150 MB."""
        return self._source(path, keep=False)

    def _source(self, path: str, keep: bool) -> Source:
        made = self._made.get(path, self)
        if made is None:
            raise KeyError(path)
        if made is self:
            row = self.columns.row_of(path)
            if row is None:
                raise KeyError(path)
            made = self.columns.source(row)
            if keep:
                self._made[path] = made
        return made  # type: ignore[return-value]

    def __contains__(self, path: object) -> bool:
        made = self._made.get(path, self)  # type: ignore[call-overload]
        return made is not None if made is not self else self.columns.row_of(path) is not None  # type: ignore[arg-type]

    def __setitem__(self, path: str, source: Source) -> None:
        if path not in self:
            self._count += 1
        self._made[path] = source

    def __delitem__(self, path: str) -> None:
        if path not in self:
            raise KeyError(path)
        self._made[path] = None
        self._recorded.pop(path, None)
        self._count -= 1

    def __iter__(self) -> Iterator[str]:
        made = self._made
        yield from (path for path in self.columns.paths if made.get(path, self) is not None)
        yield from (path for path, source in made.items() if source is not None and path not in self.columns.rows)

    def __len__(self) -> int:
        return self._count

    def mapped(self) -> list[str]:
        """The paths of the files in the map (not skipped), sorted; no Source made for it."""
        made = self._made
        paths = [self.columns.paths[row] for row in self.columns.mapped()]
        if not made:
            return paths  # the columns' rows are in path order
        paths = [path for path in paths if path not in made]
        paths += [path for path, source in made.items() if source is not None and not source.skipped]
        return sorted(paths)

    def value(self, path: str, name: str) -> Any:
        """One scalar of a file, None when it is not cached; no Source made for it."""
        source = self._made.get(path, self)
        if source is not self:
            return None if source is None else getattr(source, name)
        row = self.columns.row_of(path)
        return None if row is None else self.columns.values[name][row]

    def stats(self) -> list[tuple[str, int, int]]:
        """Path, size and mtime of every cached file, by path; no Source made for it."""
        made, sizes, mtimes = self._made, self.columns.values["size"], self.columns.values["mtime_ns"]
        found = [(path, sizes[row], mtimes[row]) for row, path in enumerate(self.columns.paths) if path not in made]
        found += [(path, source.size, source.mtime_ns) for path, source in made.items() if source is not None]
        return sorted(found)

    def numbers(self, names: Sequence[str], paths: Sequence[str] | None = None) -> list[np.ndarray]:
        """Integer scalars of these files (None: of the files in the map, in order), one array
        per name, None (a count not made yet) as -1; no Source made for it."""
        import numpy as np

        if paths is None and not self._made:
            return [self.columns.numbers[name][self.columns.mapped()] for name in names]
        paths = self.mapped() if paths is None else paths
        few = len(paths) * 8 < len(self.columns.paths)
        rows = self.columns.row_of if few else self.columns.rows.get
        at = np.fromiter((-1 if (row := rows(path)) is None else row for path in paths), dtype=np.int64, count=len(paths))
        if few:  # the files of an edit: each looked up
            found = [np.array([-1 if row < 0 or (v := self.columns.values[name][row]) is None else v for row in at],
                              dtype=np.int64) for name in names]
        else:  # most: whole columns at once, -1 past the last row standing for a file not cached
            found = [np.append(self.columns.numbers[name], -1)[at] for name in names]
        if self._made:  # read again or come since the columns were made: few
            for k, path in enumerate(paths):
                source = self._made.get(path)
                if source is not None:
                    for values, name in zip(found, names, strict=True):
                        value = getattr(source, name)
                        values[k] = -1 if value is None else value
        return found

    def recorded(self, path: str) -> int:
        """When the file was last recorded as it is, 0 if never."""
        found = self._recorded.get(path)
        if found is not None:
            return found
        row = self.columns.row_of(path)
        return 0 if row is None else self.columns.recorded[row]

    def record(self, paths: Iterable[str], now: int) -> None:
        self._recorded.update(dict.fromkeys(paths, now))

    def as_columns(self) -> Columns:
        """All of it as columns again, for the cache to keep. When no file came or went, the
        columns are copied and the files made since written over them: making a Source of each
        of 180,000 files to save them took three seconds at the close of a session."""
        columns, made = self.columns, self._made
        if not made and not self._recorded:
            return columns
        if any(source is None or path not in columns.rows for path, source in made.items()):
            return self._joined()
        values = {name: list(column) for name, column in columns.values.items()}
        recorded = list(columns.recorded)
        for path, source in made.items():
            row = columns.rows[path]
            for name in SCALARS:
                values[name][row] = getattr(source, name)
        for path, when in self._recorded.items():
            recorded[columns.rows[path]] = when
        return Columns(columns.paths, recorded, values)

    def _joined(self) -> Columns:
        """The columns' rows that stay and the files made since, in path order: when files came
        or went. Column by column, as a Source made of each of 180,000 files took 150 MB."""
        columns, made = self.columns, self._made
        kept = [row for row, path in enumerate(columns.paths) if path not in made]
        added = [source for source in made.values() if source is not None]
        paths = [columns.paths[row] for row in kept] + [source.path for source in added]
        order = sorted(range(len(paths)), key=paths.__getitem__)
        again = self._recorded
        recorded = ([again.get(columns.paths[row], columns.recorded[row]) for row in kept]
                    + [self.recorded(source.path) for source in added])
        values = {name: [column[row] for row in kept] + [getattr(source, name) for source in added]
                  for name, column in columns.values.items()}
        return Columns([paths[k] for k in order], [recorded[k] for k in order],
                       {name: [column[k] for k in order] for name, column in values.items()})


class InOrder(Sequence[Source]):
    """The Sources of `paths`, in that order, each got from `source` as it is read (see Cached)."""

    def __init__(self, paths: list[str], source: Callable[[str], Source]) -> None:
        self.paths = paths
        self.source = source

    @overload
    def __getitem__(self, at: int) -> Source: ...

    @overload
    def __getitem__(self, at: slice) -> list[Source]: ...

    def __getitem__(self, at: int | slice) -> Source | list[Source]:
        if isinstance(at, slice):
            return [self.source(path) for path in self.paths[at]]
        return self.source(self.paths[at])

    def __len__(self) -> int:
        return len(self.paths)

    def __iter__(self) -> Iterator[Source]:
        return map(self.source, self.paths)
