"""Reading a GGUF file's metadata: what `heron serve` needs, the model's trained window and its shape.

A GGUF file starts with a header of typed key/value pairs (the spec: ggml's docs/gguf.md). The
model's hyperparameters are `<architecture>.*` keys near the start; reading stops once they are all
seen (the tokenizer's large arrays follow them), and never touches the tensors.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from agent.config import FULL_WINDOW
from agent.errors import UsageError
from agent.serve.catalogue import Shape

MAGIC = b"GGUF"
# Value types by their GGUF code: the struct format of each fixed-size one.
_FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


# The `<architecture>.` keys the plan needs; head_count_kv is an array in hybrid models (0 for a
# layer without attention).
SHAPE_KEYS = ("context_length", "block_count", "attention.head_count", "attention.head_count_kv",
              "attention.key_length", "attention.value_length", "embedding_length", "full_attention_interval")


def read_metadata(path: Path) -> dict[str, object]:
    """The architecture's SHAPE_KEYS that the file has, without the `<architecture>.` prefix."""
    found: dict[str, object] = {}
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
                prefix = f"{architecture}." if architecture else None
                wanted = prefix is not None and key.startswith(prefix) and key[len(prefix):] in SHAPE_KEYS
                value = _value(f, struct.unpack("<I", _exact(f, 4))[0], keep=wanted)
                if key == "general.architecture":
                    architecture = value
                elif wanted:
                    found[key[len(prefix):]] = value  # type: ignore[index]
                    if len(found) == len(SHAPE_KEYS):
                        break
    except (EOFError, struct.error, UnicodeDecodeError, ValueError):
        raise UsageError(f"--gguf {path}: the file is cut short or damaged") from None
    return found


def trained_window(path: Path) -> int | None:
    """The context length the model was trained for, or None when the file does not say."""
    value = read_metadata(path).get("context_length")
    return value if isinstance(value, int) else None


def read_shape(path: Path) -> Shape:
    """The model's shape for the KV-cache arithmetic, from the file's own metadata."""
    meta = read_metadata(path)
    layers = meta.get("block_count")
    heads_kv = meta.get("attention.head_count_kv")
    if not isinstance(layers, int) or heads_kv is None:
        raise UsageError(f"--gguf {path}: the file does not give its layers and KV heads")
    if isinstance(heads_kv, list):  # per layer; 0 where a layer has no attention (hybrid models)
        attention = sum(1 for h in heads_kv if h)
        kv_heads = max(heads_kv, default=0)
    else:
        interval = meta.get("full_attention_interval")
        attention = layers // interval if isinstance(interval, int) and interval > 0 else layers
        kv_heads = int(heads_kv)  # type: ignore[call-overload]
    key, value = meta.get("attention.key_length"), meta.get("attention.value_length")
    if isinstance(key, int) and isinstance(value, int):
        head_dim = (key + value) // 2
    else:
        head_dim = int(meta.get("embedding_length", 0)) // max(int(meta.get("attention.head_count", 1)), 1)  # type: ignore[call-overload]
    window = meta.get("context_length")
    return Shape(window if isinstance(window, int) else FULL_WINDOW, layers, attention, kv_heads, head_dim)


def _exact(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise EOFError
    return data


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _exact(f, 8))
    return _exact(f, length).decode("utf-8")


def _value(f: BinaryIO, kind: int, keep: bool = False) -> object:
    if kind in _FIXED:
        fmt = _FIXED[kind]
        return struct.unpack(fmt, _exact(f, struct.calcsize(fmt)))[0]
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item, length = struct.unpack("<IQ", _exact(f, 12))
        if item in _FIXED and keep:
            size = struct.calcsize(_FIXED[item])
            return [struct.unpack(_FIXED[item], _exact(f, size))[0] for _ in range(length)]
        if item in _FIXED:  # skipped whole: the tokenizer's arrays
            f.seek(length * struct.calcsize(_FIXED[item]), 1)
        else:
            for _ in range(length):
                _value(f, item)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")
