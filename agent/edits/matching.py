"""Finding where an edit goes: a cascade of ever more tolerant matchers that never guesses.

Local models copy the text they want to replace imperfectly: trailing spaces dropped, a block
re-indented, typographic quotes, a middle elided with `...`, a line or two misremembered. The
cascade tries, in order:

  exact          the text as given
  unicode        typographic quotes, dashes and Unicode spaces read as their ASCII forms
  whitespace     whole lines equal but for trailing whitespace
  indentation    whole lines equal but for one indentation shift (the new text is shifted too)
  stripped       whole lines equal but for leading and trailing whitespace, however inconsistent
                 (lines kept from old keep the file's own; added lines are indented from theirs)
  elided         lines of `...` stand for lines the model skipped; the rest must match in order
  anchors        first and last lines equal, the lines between similar enough

and then all of them again with read_file's `12\\t` line-number prefixes taken off. The first
matcher that finds anything decides: one place is edited; several are refused with their line
numbers, because a looser matcher would only find more. Nothing is ever applied at a place
that is merely the most similar one.
"""

from __future__ import annotations

import difflib
import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property
from itertools import islice
from typing import Callable, Iterator

from agent.errors import ToolError

# Characters models put in place of the ASCII ones in code, mapped one to one (offsets stay put).
UNICODE_ASCII = str.maketrans({
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
                    "\u202f\u205f\u3000", " "),
    # Undecodable bytes kept as surrogate escapes are shown to the model as U+FFFD.
    **{chr(c): "\ufffd" for c in range(0xDC80, 0xDD00)},
})
# A line standing for skipped lines: `...`, `…`, or a comment such as `# ... existing code ...`.
ELISION = re.compile(r"^\s*(?:\.\.\.|…|(?:#|//|/\*|--|;|<!--).*(?:\.\.\.|…).*)\s*$")
LINE_NUMBER = re.compile(r"^ *\d+\t")
ANCHOR_SIMILARITY = 0.85
MAX_ELIDED_GAP = 300


class NoMatch(ToolError):
    pass


class Ambiguous(ToolError):
    pass


@dataclass(frozen=True)
class Replacement:
    start: int  # offsets into the text
    end: int
    new: str
    line: int  # 1-based line of `start`


@dataclass(frozen=True)
class Found:
    strategy: str
    replacements: list[Replacement]


@dataclass(frozen=True)
class Lines:
    """A text split into lines, with the offset where each starts."""

    text: str
    lines: list[str]
    starts: list[int]

    @classmethod
    def of(cls, text: str) -> Lines:
        lines = text.split("\n")
        starts, pos = [], 0
        for line in lines:
            starts.append(pos)
            pos += len(line) + 1
        return cls(text, lines, starts)

    @cached_property
    def keys(self) -> list[str]:
        return [_key(s) for s in self.lines]

    @cached_property
    def rstripped(self) -> list[str]:
        return [s.translate(UNICODE_ASCII).rstrip() for s in self.lines]

    def line_of(self, offset: int) -> int:
        return bisect_right(self.starts, offset)

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Offsets of lines first..last (0-based, inclusive), without the last newline."""
        return self.starts[first], self.starts[last] + len(self.lines[last])


@dataclass(frozen=True)
class Request:
    old: str
    new: str


Candidate = tuple[int, int, str]  # start offset, end offset, replacement text
Matcher = Callable[[Lines, Request], list[Candidate]]


def locate(text: str, old: str, new: str, replace_all: bool = False, *, whole_lines: bool = False,
           after_line: int = 0, near_line: int | None = None) -> Found:
    """Where `old` is in `text`, and what goes there. Raises NoMatch or Ambiguous.

    whole_lines: only matches that span whole lines (patch hunks).
    after_line: ignore matches that start before this 0-based line (hunks apply in order).
    near_line: of several matches, take the one clearly nearest this 0-based line (a hunk's header).
    """
    if not old.strip():
        raise NoMatch("old is empty or only whitespace; give the lines to replace")
    doc = Lines.of(text)
    requests = [("", Request(old, new))]
    if numbered := _without_line_numbers(old, new):
        requests.append(("line_numbers+", numbered))
    for prefix, request in requests:
        for name, matcher in MATCHERS:
            found = sorted(c for c in matcher(doc, request) if _allowed(doc, c, whole_lines, after_line))
            if replace_all:
                found = _non_overlapping(found)
            if not found:
                continue
            if len(found) > 1 and not replace_all:
                found = _nearest(doc, found, near_line)
            if len(found) > 1 and not replace_all:
                lines = ", ".join(str(doc.line_of(s)) for s, _, _ in found)
                raise Ambiguous(
                    f"old text matches {len(found)} places (lines {lines}); include more "
                    "surrounding lines to single out one, or set replace_all"
                )
            return Found(prefix + name, [_replacement(doc, c) for c in found])
    raise NoMatch(_not_found(doc, old))


def apply(text: str, replacements: list[Replacement]) -> str:
    for r in sorted(replacements, key=lambda r: r.start, reverse=True):
        text = text[: r.start] + r.new + text[r.end :]
    return text


# --- the matchers ------------------------------------------------------------------------------


def _exact(doc: Lines, req: Request) -> list[Candidate]:
    return [(i, i + len(req.old), req.new) for i in _find_all(doc.text, req.old)]


def _unicode(doc: Lines, req: Request) -> list[Candidate]:
    old = req.old.translate(UNICODE_ASCII)
    norm = doc.text.translate(UNICODE_ASCII)
    if old == req.old and norm == doc.text:
        return []
    drifted = {c for c in req.old if ord(c) in UNICODE_ASCII and c not in doc.text}
    found = []
    for i in _find_all(norm, old):
        # The same slips in the new text are slips too: `“x”` meant `"x"` there as well.
        new = "".join(c.translate(UNICODE_ASCII) if c in drifted else c for c in req.new)
        found.append((i, i + len(old), new))
    return found


def _whitespace(doc: Lines, req: Request) -> list[Candidate]:
    block = _Block.of(req)
    if block is None:
        return []
    want = [s.translate(UNICODE_ASCII).rstrip() for s in block.old]
    return [(*doc.span(i, i + len(want) - 1), block.new_text()) for i in _windows(doc.rstripped, want)]


def _indentation(doc: Lines, req: Request) -> list[Candidate]:
    block = _Block.of(req)
    if block is None:
        return []
    want = [_key(s) for s in block.old]
    found = []
    for i in _windows(doc.keys, want):
        if (indent := _shift(block.old, doc.lines[i : i + len(want)], block.old_indent)) is not None:
            found.append((*doc.span(i, i + len(want) - 1), block.new_text(indent)))
    return found


def _stripped(doc: Lines, req: Request) -> list[Candidate]:
    block = _Block.of(req)
    if block is None:
        return []
    want = [_key(s) for s in block.old]
    return [(*doc.span(i, i + len(want) - 1), "\n".join(_fitted(block, doc.lines[i : i + len(want)])))
            for i in _windows(doc.keys, want)]


def _fitted(block: _Block, window: list[str]) -> list[str]:
    """The new lines for a place whose lines match old's only when stripped: a line new keeps from
    old is the file's line as it is; a line new adds is indented like the nearby line of old the
    model indented most alike (the lines it replaces, or those around it), shifted as the model
    shifted it from that line."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, block.old, block.new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += window[i1:i2]
            continue
        near = [k for k in range(i1 - 1, i2 + 1) if 0 <= k < len(window) and block.old[k].strip()]
        for line in block.new[j1:j2]:
            if not line.strip() or not near:
                out.append(line.strip() and line)
                continue
            k = min(near, key=lambda k: (abs(len(_lead(block.old[k])) - len(_lead(line))), -k))
            out.append(_indented(line, _lead(block.old[k]), _lead(window[k])))
    return out


def _indented(line: str, model: str, file: str) -> str:
    lead = _lead(line)
    if lead.startswith(model):
        return file + lead[len(model):] + line.lstrip()
    cut = len(model) - len(lead)  # the model dedented: take as much off the file's indent
    return file[: max(len(file) - cut, 0)] + line.lstrip()


def _elided(doc: Lines, req: Request) -> list[Candidate]:
    block = _Block.of(req)
    if block is None or not any(ELISION.match(s) for s in block.old):
        return []
    old_parts = _split_elided(block.old)
    new_parts = _split_elided(block.new)
    if not old_parts or len(new_parts) not in (1, len(old_parts)):
        raise NoMatch(
            f"old skips lines in {len(old_parts) - 1} places but new in {len(new_parts) - 1}; "
            "mark the same skipped places in both, or write new out in full"
        )
    old_lines = [line for part in old_parts for line in part]
    found = []
    for chain in _chains(doc, old_parts):
        window = [line for a, b in chain for line in doc.lines[a:b]]
        indent = _shift(old_lines, window, block.old_indent)
        if indent is None:
            continue
        pieces = [_reindent(new_parts[0], block.old_indent, indent)]
        if len(new_parts) > 1:
            for (_, gap_start), (next_start, _), part in zip(chain, chain[1:], new_parts[1:]):
                pieces.append(doc.lines[gap_start:next_start])  # the skipped lines, as they are
                pieces.append(_reindent(part, block.old_indent, indent))
        text = "\n".join(line for piece in pieces for line in piece)
        found.append((*doc.span(chain[0][0], chain[-1][1] - 1), text))
    return found


def _anchors(doc: Lines, req: Request) -> list[Candidate]:
    block = _Block.of(req)
    if block is None or len(block.old) < 3 or any(ELISION.match(s) for s in block.old):
        return []
    n = len(block.old)
    first, last = _key(block.old[0]), _key(block.old[-1])
    if not first or not last:
        return []
    slack = max(1, n // 5)
    middle = "\n".join(_key(s) for s in block.old[1:-1])
    found = []
    for i, key in enumerate(doc.keys):
        if key != first:
            continue
        for j in range(i + max(2, n - slack) - 1, min(len(doc.lines), i + n + slack)):
            if doc.keys[j] != last:
                continue
            between = "\n".join(doc.keys[i + 1 : j])
            if difflib.SequenceMatcher(None, middle, between, autojunk=False).ratio() < ANCHOR_SIMILARITY:
                continue
            ends = [block.old[0], block.old[-1]]
            indent = _shift(ends, [doc.lines[i], doc.lines[j]], block.old_indent)
            if indent is not None:
                found.append((*doc.span(i, j), block.new_text(indent)))
    return found


MATCHERS: tuple[tuple[str, Matcher], ...] = (
    ("exact", _exact),
    ("unicode", _unicode),
    ("whitespace", _whitespace),
    ("indentation", _indentation),
    ("stripped", _stripped),
    ("elided", _elided),
    ("anchors", _anchors),
)


# --- blocks of whole lines -------------------------------------------------------------------


@dataclass(frozen=True)
class _Block:
    """old and new as whole lines, without the blank lines around old (and as many around new)."""

    old: list[str]
    new: list[str]
    old_indent: str

    @classmethod
    def of(cls, req: Request) -> _Block | None:
        old, new = _lines(req.old), _lines(req.new)
        lead = next((k for k, s in enumerate(old) if s.strip()), len(old))
        trail = next((k for k, s in enumerate(reversed(old)) if s.strip()), len(old))
        old = old[lead : len(old) - trail]
        if not old:
            return None
        for _ in range(lead):
            if new and not new[0].strip():
                new = new[1:]
        for _ in range(trail):
            if new and not new[-1].strip():
                new = new[:-1]
        return cls(old, new, _common_indent(old))

    def new_text(self, indent: str | None = None) -> str:
        lines = self.new if indent is None else _reindent(self.new, self.old_indent, indent)
        return "\n".join(lines)


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def _key(line: str) -> str:
    return line.translate(UNICODE_ASCII).strip()


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _common_indent(lines: list[str]) -> str:
    leads = [_lead(s) for s in lines if s.strip()]
    if not leads:
        return ""
    first, last = min(leads), max(leads)
    k = 0
    while k < len(first) and first[k] == last[k]:
        k += 1
    return first[:k]


def _shift(old: list[str], window: list[str], base: str) -> str | None:
    """The file's indent for old's common indent `base`, if every line moved by that same shift."""
    pairs = [(o, f) for o, f in zip(old, window) if o.strip()]
    if not pairs:
        return None
    rel = _lead(pairs[0][0])[len(base) :]
    lead = _lead(pairs[0][1])
    if not lead.endswith(rel):
        return None
    indent = lead[: len(lead) - len(rel)]
    if all(_lead(f) == indent + _lead(o)[len(base) :] for o, f in pairs):
        return indent
    return None


def _reindent(lines: list[str], old_indent: str, indent: str) -> list[str]:
    out = []
    for line in lines:
        if not line.strip():
            out.append("")
        elif line.startswith(old_indent):
            out.append(indent + line[len(old_indent) :])
        else:
            out.append(indent + line.lstrip())
    return out


def _windows(keys: list[str], want: list[str], start: int = 0, stop: int | None = None) -> Iterator[int]:
    """Where the lines `want` start among `keys`, for starts in [start, stop)."""
    n = len(want)
    last = len(keys) - n + 1 if stop is None else min(stop, len(keys) - n + 1)
    for i in range(start, last):
        if keys[i] == want[0] and keys[i : i + n] == want:
            yield i


def _split_elided(lines: list[str]) -> list[list[str]]:
    """Lines split at elision markers; markers at either end and blank edges dropped."""
    parts: list[list[str]] = [[]]
    for line in lines:
        if ELISION.match(line):
            parts.append([])
        else:
            parts[-1].append(line)
    if len(parts) == 1:
        return parts
    return [p for p in (_strip_blank(p) for p in parts) if p]


def _chains(doc: Lines, parts: list[list[str]]) -> list[list[tuple[int, int]]]:
    """For each place the first part matches, where the others follow it; a later part that fits
    twice within reach makes the edit ambiguous."""
    keyed = [[_key(s) for s in p] for p in parts]
    chains = []
    for start in _windows(doc.keys, keyed[0]):
        chain = [(start, start + len(keyed[0]))]
        for want in keyed[1:]:
            after = chain[-1][1]
            hits = list(islice(_windows(doc.keys, want, after, after + MAX_ELIDED_GAP), 2))
            if not hits:
                break
            if len(hits) > 1:
                raise Ambiguous(
                    f"the lines after a `...` in old fit at lines {hits[0] + 1} and {hits[1] + 1}; "
                    "include more lines there to single out one"
                )
            chain.append((hits[0], hits[0] + len(want)))
        else:
            chains.append(chain)
    return chains


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


# --- choosing and reporting --------------------------------------------------------------------


def _find_all(text: str, needle: str) -> list[int]:
    found, start = [], 0
    while (i := text.find(needle, start)) != -1:
        found.append(i)
        start = i + 1  # overlapping places count: either could be meant
    return found


def _allowed(doc: Lines, c: Candidate, whole_lines: bool, after_line: int) -> bool:
    start, end, _ = c
    if doc.line_of(start) - 1 < after_line:
        return False
    if not whole_lines:
        return True
    return (start == 0 or doc.text[start - 1] == "\n") and (
        end == len(doc.text) or doc.text[end] == "\n" or doc.text[end - 1] == "\n")


def _non_overlapping(found: list[Candidate]) -> list[Candidate]:
    kept: list[Candidate] = []
    for c in found:
        if not kept or c[0] >= kept[-1][1]:
            kept.append(c)
    return kept


def _nearest(doc: Lines, found: list[Candidate], near_line: int | None) -> list[Candidate]:
    """The match nearest the hint, when it is at most half as far as any other."""
    if near_line is None:
        return found
    ranked = sorted(found, key=lambda c: abs(doc.line_of(c[0]) - 1 - near_line))
    d0, d1 = (abs(doc.line_of(c[0]) - 1 - near_line) for c in ranked[:2])
    return [ranked[0]] if 2 * d0 < d1 else found


def _replacement(doc: Lines, c: Candidate) -> Replacement:
    start, end, new = c
    at_line_start = start == 0 or doc.text[start - 1] == "\n"
    if not new and at_line_start and end < len(doc.text) and doc.text[end] == "\n":
        end += 1  # emptying whole lines deletes them, newline and all
    return Replacement(start, end, new, doc.line_of(start))


def _without_line_numbers(old: str, new: str) -> Request | None:
    """old and new without read_file's `  12\\t` prefixes, when every line of old has one."""
    lines = [s for s in old.split("\n") if s.strip()]
    if not lines or not all(LINE_NUMBER.match(s) for s in lines):
        return None
    strip = lambda text: "\n".join(LINE_NUMBER.sub("", s, count=1) for s in text.split("\n"))  # noqa: E731
    return Request(strip(old), strip(new))


def _not_found(doc: Lines, old: str) -> str:
    message = "old text not found"
    first = next((_key(s) for s in old.split("\n") if _key(s)), "")
    keys = [_key(s) for s in doc.lines]
    close = difflib.get_close_matches(first, keys, n=1, cutoff=0.6) if first else []
    if close:
        message += f"; the closest line to its first line is line {keys.index(close[0]) + 1}"
    return message + "; read the file again and copy the lines to replace exactly"
