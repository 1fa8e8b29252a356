"""Reading a GGUF file's metadata: only what `heron serve` needs, the model's trained window.

A GGUF file starts with a header of typed key/value pairs (the spec: ggml's docs/gguf.md); the window
is `<architecture>.context_length`, near the start, so reading stops there, long before the
tokenizer's large arrays and the tensors.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from agent.errors import UsageError

MAGIC = b"GGUF"
# Value types by their GGUF code: the struct format of each fixed-size one.
_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def trained_window(path: Path) -> int | None:
    """The context length the model was trained for, or None when the file does not say."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != MAGIC:
                raise UsageError(f"--gguf {path}: not a GGUF model file")
            version, _tensors, count = struct.unpack("<IQQ", _exact(f, 20))
            if version < 2:
                raise UsageError(f"--gguf {path}: GGUF version {version} is too old; convert the model again")
            architecture = None
            for _ in range(count):
                key = _string(f)
                value = _value(f, struct.unpack("<I", _exact(f, 4))[0])
                if key == "general.architecture":
                    architecture = value
                elif architecture and key == f"{architecture}.context_length" and isinstance(value, int):
                    return value
    except (EOFError, struct.error, UnicodeDecodeError, ValueError):
        raise UsageError(f"--gguf {path}: the file is cut short or damaged") from None
    return None


def _exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _exact(f, 8))
    return _exact(f, length).decode("utf-8")


def _value(f: BinaryIO, kind: int) -> object:
    if kind in _FIXED:
        fmt = _FIXED[kind]
        return struct.unpack(fmt, _exact(f, struct.calcsize(fmt)))[0]
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item, length = struct.unpack("<IQ", _exact(f, 12))
        if item in _FIXED:  # skipped whole: nothing heron reads is an array
            f.seek(length * struct.calcsize(_FIXED[item]), 1)
        else:
            for _ in range(length):
                _value(f, item)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")
