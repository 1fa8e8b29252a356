"""The edit-matching cascade: each tolerance, and the refusals that keep edits out of wrong places."""

from __future__ import annotations

import pytest

from agent.edits.matching import Ambiguous, NoMatch, apply, locate

SOURCE = '''class Cache:
    def get(self, key):
        if key in self.data:
            return self.data[key]
        return None

    def put(self, key, value):
        self.data[key] = value
        self.size += 1
        self.trim()
        return value

    def drop(self, key):
        if key in self.data:
            del self.data[key]
        return None
'''


def edited(old: str, new: str, text: str = SOURCE, **kw) -> tuple[str, str]:
    found = locate(text, old, new, **kw)
    return found.strategy, apply(text, found.replacements)


def test_exact():
    strategy, out = edited("self.size += 1", "self.size += 2")
    assert strategy == "exact" and "self.size += 2" in out


def test_trailing_whitespace_drift():
    strategy, out = edited("        self.size += 1   \n        self.trim()  \n", "        self.grow()\n")
    assert strategy == "whitespace"
    assert "        self.grow()\n        return value" in out


def test_reindented_block_is_shifted_back():
    old = "def put(self, key, value):\n    self.data[key] = value\n"
    new = "def put(self, key, value):\n    self.data[key] = value\n    self.dirty = True\n"
    strategy, out = edited(old, new)
    assert strategy == "indentation"
    assert "        self.data[key] = value\n        self.dirty = True\n        self.size += 1" in out


def test_typographic_quotes_dashes_and_spaces():
    text = 'msg = "a - b"\nx\u00a0= 1\n'
    strategy, out = edited("msg = \u201ca \u2013 b\u201d", "msg = \u201ca + b\u201d", text)
    assert strategy == "unicode" and out.startswith('msg = "a + b"\n')
    strategy, out = edited("x = 1", "x = 2", text)
    assert strategy == "unicode" and out.endswith("x = 2\n")


def test_elided_middle_keeps_the_skipped_lines():
    old = "    def put(self, key, value):\n        ...\n        return value\n"
    new = "    def put(self, key, value):\n        ...\n        return self.data[key]\n"
    strategy, out = edited(old, new)
    assert strategy == "elided"
    assert "        self.trim()\n        return self.data[key]\n\n    def drop" in out


def test_elided_middle_replaced_when_new_writes_it_out():
    old = "def put(self, key, value):\n    # ... existing code ...\n    return value"
    new = "def put(self, key, value):\n    return self.store(key, value)"
    strategy, out = edited(old, new)
    assert strategy == "elided"
    assert "    def put(self, key, value):\n        return self.store(key, value)\n\n" in out


def test_anchors_with_a_misremembered_middle():
    old = ("    def put(self, key, value):\n        self.data[key] = value\n        self.size = self.size + 1\n"
           "        self.trim()\n        return value\n")
    strategy, out = edited(old, "    def put(self, key, value):\n        return value\n")
    assert strategy == "anchors"
    assert "def put(self, key, value):\n        return value\n\n    def drop" in out


def test_anchors_refuse_a_middle_that_is_not_similar():
    old = "    def put(self, key, value):\n        raise NotImplemented\n        log(key)\n        return value\n"
    with pytest.raises(NoMatch, match="closest line to its first line is line 7"):
        locate(SOURCE, old, "x")


def test_line_number_prefixes_copied_from_read_file():
    strategy, out = edited(" 9\t        self.size += 1\n10\t        self.trim()", " 9\t        self.size += 2\n10\t        self.trim()")
    assert strategy == "line_numbers+exact" and "self.size += 2\n        self.trim()" in out


def test_a_target_that_appears_twice_is_refused_with_both_lines():
    with pytest.raises(Ambiguous, match=r"matches 2 places \(lines 3, 14\)"):
        locate(SOURCE, "if key in self.data:", "if key:")
    # ... also when only a tolerant rule finds the two places.
    with pytest.raises(Ambiguous, match=r"lines 3, 14"):
        locate(SOURCE, "if key in self.data:   \n", "if key:\n")


def test_context_that_singles_out_one_of_two_applies_there():
    strategy, out = edited("    del self.data[key]\nreturn None", "    self.data.pop(key)\nreturn None")
    assert strategy == "indentation"
    assert out.count("return self.data[key]") == 1 and "self.data.pop(key)" in out


def test_replace_all():
    _, out = edited("return None", "return default", replace_all=True)
    assert out.count("return default") == 2


def test_empty_old_is_refused():
    with pytest.raises(NoMatch, match="old is empty"):
        locate(SOURCE, "  \n", "x")


def test_whole_lines_only_for_hunks():
    with pytest.raises(NoMatch):
        locate("total = size + 1\n", "size + 1", "size + 2", whole_lines=True)


def test_a_hint_picks_the_clearly_nearest_of_several():
    text = "a\nx\nb\nc\nd\ne\nf\ng\nx\nh\n"
    found = locate(text, "x", "y", whole_lines=True, near_line=7)
    assert apply(text, found.replacements) == text[: text.rindex("x")] + "y\nh\n"
    with pytest.raises(Ambiguous):
        locate(text, "x", "y", whole_lines=True, near_line=5)


def test_overlapping_places_are_ambiguous_not_the_first():
    with pytest.raises(Ambiguous, match=r"lines 1, 2"):
        locate("a = 1\na = 1\na = 1\n", "a = 1\na = 1\n", "b = 2\n")


def test_elided_tail_that_fits_twice_is_refused():
    text = "def f():\n    start()\n    step()\n    done()\n    step()\n    done()\n"
    with pytest.raises(Ambiguous, match=r"after a `...` in old fit at lines 3 and 5"):
        locate(text, "    start()\n    ...\n    step()\n    done()", "    start()\n    finish()")


def test_emptying_whole_lines_deletes_them():
    _, out = edited("        self.size += 1\n        self.trim()", "")
    assert "self.data[key] = value\n        return value\n" in out
    _, out = edited("        self.size += 1   \n        self.trim()", "")  # by the whitespace rule
    assert "self.data[key] = value\n        return value\n" in out
    _, out = edited("self.size += 1", "")  # part of a line: only that part goes
    assert "self.data[key] = value\n        \n        self.trim()" in out
