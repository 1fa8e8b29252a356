"""Freed arrays given back to the system.

glibc's malloc gives a block over its threshold (at first 128 KB) a mapping of its own, returned
when freed; but once such a block is freed it raises the threshold to that block's size, up to
32 MB. From then on, arrays below it come from the heap, and what a big build frees among what it
keeps stays in the process: a cold map of a 180,000-file tree peaked at 1.33 GB, and at 1.11 GB
with the threshold held at 1 MB. Arrays of a turn's ranking (a number per file) stay below it.
"""

from __future__ import annotations

import ctypes

M_MMAP_THRESHOLD = -3  # mallopt's parameter (malloc.h)
THRESHOLD = 1 << 20


def give_back_freed_arrays() -> None:
    """Hold malloc's threshold for blocks of their own at THRESHOLD; elsewhere than glibc, nothing."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no mallopt (macOS); musl's ignores it
        return
    mallopt(M_MMAP_THRESHOLD, THRESHOLD)


def give_back_free_heap() -> None:
    """Give the system the free pages within malloc's heap: the smaller blocks a build freed
    (dict tables, strings) among those it keeps stay in the process otherwise."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    malloc_trim(0)
