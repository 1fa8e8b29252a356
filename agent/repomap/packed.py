"""Name -> a list of file numbers, packed into four flat arrays.

The ranking index maps 10^5 names to the files defining them, and as many module names to their
files. As dicts of lists, a warm start spent over half a second unpickling them for the few names
a task holds; packed, they load as buffers and a name is found by binary search. A patched index
keeps the names that changed on top, leaving the packed arrays of the index it came from as they
are.
"""

from __future__ import annotations

import bisect
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np


class Packed(Mapping[str, list[int]]):
    """The names sorted by their UTF-8 bytes, all in one buffer; name k's numbers are
    values[starts[k]:starts[k + 1]]. `changed`: names whose numbers changed since (none: gone)."""

    def __init__(self, names: bytes, ends: np.ndarray, starts: np.ndarray, values: np.ndarray,
                 changed: dict[str, list[int]] | None = None) -> None:
        self._names, self._ends, self._starts, self._values = names, ends, starts, values
        self._changed = changed or {}
        self._count = len(ends)
        for name, numbers in self._changed.items():
            packed = self._base(name) >= 0
            self._count += (1 if numbers and not packed else -1 if packed and not numbers else 0)

    @classmethod
    def of(cls, mapping: Mapping[str, Iterable[int]]) -> Packed:
        """The mapping packed; a name with no numbers left out."""
        lists = [list(numbers) for numbers in mapping.values()]
        starts = np.concatenate(([0], np.cumsum([len(numbers) for numbers in lists]))).astype(np.int64)
        values = np.fromiter((n for numbers in lists for n in numbers), dtype=np.int32, count=int(starts[-1]))
        return cls.of_groups(list(mapping), starts, values)

    @classmethod
    def of_groups(cls, names: Sequence[str], starts: np.ndarray, values: np.ndarray) -> Packed:
        """names[k] -> values[starts[k]:starts[k + 1]], a name with none left out: from arrays, as
        a build has them (a dict of lists of the definers of 10^5 names took 60 MB)."""
        counts = np.diff(starts)
        held = np.flatnonzero(counts)
        kept = [names[k] for k in held.tolist()]
        # Sorted as strings, which is their UTF-8 bytes' order too (surrogates included), and
        # encoded at once: one by one, a big tree's terms took a third longer.
        order = sorted(range(len(kept)), key=kept.__getitem__)
        ordered = [kept[k] for k in order]
        joined = "".join(ordered)
        data = joined.encode("utf-8", "surrogatepass")
        sizes = map(len, ordered) if len(data) == len(joined) else (
            len(name.encode("utf-8", "surrogatepass")) for name in ordered)
        ends = np.cumsum(np.fromiter(sizes, dtype=np.int64, count=len(ordered)))
        groups = held[order]
        lengths = counts[groups]
        packed_starts = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        at = np.repeat(starts[groups] - packed_starts[:-1], lengths) + np.arange(packed_starts[-1])
        return cls(data, ends, packed_starts, values[at].astype(np.int32))

    def __getitem__(self, name: str) -> list[int]:
        numbers = self._changed.get(name)
        if numbers is not None:
            if not numbers:
                raise KeyError(name)
            return numbers
        k = self._base(name)
        if k < 0:
            raise KeyError(name)
        return self._values[self._starts[k]:self._starts[k + 1]].tolist()

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        numbers = self._changed.get(name)
        return bool(numbers) if numbers is not None else self._base(name) >= 0

    def __iter__(self) -> Iterator[str]:
        changed = self._changed
        for k in range(len(self._ends)):
            name = self._name(k).decode("utf-8", "surrogatepass")
            if name not in changed:
                yield name
        yield from (name for name, numbers in changed.items() if numbers)

    def __len__(self) -> int:
        return self._count

    def updated(self, changes: Mapping[str, list[int]]) -> Packed:
        """A copy with these names' numbers as given (an empty list: the name is gone)."""
        return Packed(self._names, self._ends, self._starts, self._values, {**self._changed, **changes})

    def renumbered(self, number: np.ndarray) -> Packed:
        """A copy with every number n as number[n]."""
        return Packed(self._names, self._ends, self._starts, number[self._values].astype(np.int32),
                      {name: [int(number[n]) for n in numbers] for name, numbers in self._changed.items()})

    def _name(self, k: int) -> bytes:
        return self._names[self._ends[k - 1] if k else 0:self._ends[k]]

    def _base(self, name: str) -> int:
        """The place of the name in the packed arrays, or -1."""
        key = name.encode("utf-8", "surrogatepass")
        k = bisect.bisect_left(_Names(self), key)
        return k if k < len(self._ends) and self._name(k) == key else -1


class _Names(Sequence[bytes]):
    """The packed names as a sequence for bisect, each sliced from the buffer when compared."""

    def __init__(self, packed: Packed) -> None:
        self._packed = packed

    def __getitem__(self, k):  # type: ignore[no-untyped-def]
        return self._packed._name(k)

    def __len__(self) -> int:
        return len(self._packed._ends)
