"""The edit turn of the repo map benchmark, shared by heron_side.py and aider_side.py. Standard
library only: each side runs in a venv of its own, and finds this module beside its script."""

import contextlib
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def edited(path: Path) -> Iterator[None]:
    """The file with one more function, then as it was, mtime included (so caches stay warm)."""
    data, stat = path.read_bytes(), path.stat()
    path.write_bytes(data + b"\n\ndef added_by_the_benchmark():\n    return 1\n")
    try:
        yield
    finally:
        path.write_bytes(data)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
