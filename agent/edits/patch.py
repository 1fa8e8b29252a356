"""The patch formats models write: unified diffs and `*** Begin Patch` envelopes, parsed into
changes, and a change's hunks placed in a file's text by their context.

Line numbers in a model's diff are often stale, so a hunk is found by its old lines (through the
same tolerant, never-guessing matcher as edit_file), in order after the previous hunk; a hunk's
line number or `@@ header` only breaks ties between equally good places.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from agent.edits import matching as edits
from agent.errors import ToolError

HUNK_HEADER = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
FENCE = re.compile(r"^\s*```[\w-]*\s*$")
ENVELOPE_LINE = re.compile(r"\*\*\* (?:(?:Add|Delete|Update) File: |Move to: |End of File$|End Patch$)")


@dataclass
class Hunk:
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    line: int | None = None  # 0-based line the diff claims the old lines start at
    context: str = ""  # an envelope's `@@ def name():` header: the hunk comes after that line
    at_eof: bool = False


@dataclass
class Change:
    kind: Literal["add", "delete", "update"]
    path: str
    move_to: str | None = None
    hunks: list[Hunk] = field(default_factory=list)


def apply_hunks(text: str, change: Change) -> str:
    replacements: list[edits.Replacement] = []
    cursor = 0
    doc = edits.Lines.of(text)
    for number, hunk in enumerate(change.hunks, start=1):
        try:
            found = _place(doc, hunk, cursor)
        except ToolError as e:
            first = next((s.strip() for s in hunk.old if s.strip()), "")
            raise ToolError(f"{change.path}: hunk {number} (`{first[:60]}`): {e}") from None
        replacements += found
        cursor = max(cursor, doc.line_of(found[-1].end))
    ordered = sorted(replacements, key=lambda r: r.start)
    for a, b in zip(ordered, ordered[1:]):
        if b.start < a.end:
            raise ToolError(f"{change.path}: two hunks change the same lines (near line {b.line})")
    return edits.apply(text, replacements)


def _place(doc: edits.Lines, hunk: Hunk, cursor: int) -> list[edits.Replacement]:
    after = cursor
    if hunk.context:
        key = edits.Lines.of(hunk.context).keys[0]
        after = next((i for i in range(cursor, len(doc.keys)) if doc.keys[i] == key),
                     next((i for i, k in enumerate(doc.keys) if k == key), cursor))
    if not any(s.strip() for s in hunk.old):
        return [_insertion(doc, hunk, after)]
    old, new = "\n".join(hunk.old), "\n".join(hunk.new)
    try:
        return edits.locate(doc.text, old, new, whole_lines=True, after_line=after, near_line=hunk.line).replacements
    except edits.NoMatch:
        if after == 0:
            raise
        # Hunks out of order, or a header that points past them: look in the whole file.
        return edits.locate(doc.text, old, new, whole_lines=True, near_line=hunk.line).replacements


def _insertion(doc: edits.Lines, hunk: Hunk, after: int) -> edits.Replacement:
    """A hunk with no old lines: its new lines go at its line, after its header, or at the end."""
    body = "".join(s + "\n" for s in hunk.old + hunk.new)
    lines = len(doc.lines) - (1 if doc.text.endswith("\n") or not doc.text else 0)
    if hunk.at_eof or (hunk.line is None and not hunk.context):
        at = lines
    elif hunk.context:
        at = after + 1
    else:
        at = min(hunk.line if hunk.line is not None else lines, lines)
    if at >= lines:
        if doc.text and not doc.text.endswith("\n"):
            body = "\n" + body.removesuffix("\n")
        return edits.Replacement(len(doc.text), len(doc.text), body, lines + 1)
    return edits.Replacement(doc.starts[at], doc.starts[at], body, at + 1)


def parse(patch: str) -> list[Change]:
    lines = [s.rstrip("\r") for s in patch.split("\n") if not FENCE.match(s)]
    if any(s.strip() == "*** Begin Patch" for s in lines):
        changes = _parse_envelope(lines)
    elif any(s.startswith("@@") for s in lines):
        changes = _parse_unified(lines)
    else:
        raise ToolError("not a patch: give a unified diff (---, +++ and @@ lines) or a *** Begin Patch envelope")
    if not changes:
        raise ToolError("the patch changes no file")
    seen: dict[str, Change] = {}
    for change in changes:
        earlier = seen.get(change.path)
        # Two Update sections of one file apply in order, the second to what the first left.
        if earlier and not (earlier.kind == change.kind == "update" and not earlier.move_to):
            raise ToolError(f"the patch names {change.path} twice; put all its changes in one section")
        seen[change.path] = change
    return changes


def _parse_envelope(lines: list[str]) -> list[Change]:
    start = next(i for i, s in enumerate(lines) if s.strip() == "*** Begin Patch") + 1
    # A model that indents the whole envelope indents it by the margin of its first line.
    margin = lines[start - 1][: len(lines[start - 1]) - len(lines[start - 1].lstrip())]
    changes: list[Change] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        line = line.removeprefix(margin)
        # Envelope lines are read with any indentation and trailing space.
        if ENVELOPE_LINE.match(line.strip()):
            line = line.strip()
        if line == "*** End Patch":
            break
        if m := re.match(r"^\*\*\* (Add|Delete|Update) File: (.+)$", line):
            kind = m.group(1).lower()
            changes.append(Change(kind, m.group(2).strip(), hunks=[Hunk()] if kind != "delete" else []))  # type: ignore[arg-type]
        elif not changes:
            if line.strip():
                raise ToolError(f"patch line {number}: expected *** Add/Delete/Update File: PATH, got {line[:60]!r}")
        elif m := re.match(r"^\*\*\* Move to: (.+)$", line):
            changes[-1].move_to = m.group(1).strip()
        elif line == "*** End of File":
            changes[-1].hunks[-1].at_eof = True
        elif line.startswith("@@"):
            change = changes[-1]
            if change.hunks[-1].old or change.hunks[-1].new:
                change.hunks.append(Hunk())
            change.hunks[-1].context = line[2:].strip().removesuffix("@@").strip()
        elif changes[-1].kind == "delete":
            if line.strip():
                raise ToolError(f"patch line {number}: a Delete File section has no body")
        elif changes[-1].kind == "add":
            if not line.startswith("+") and line:
                raise ToolError(f"patch line {number}: every line of an added file starts with '+'")
            changes[-1].hunks[-1].new.append(line[1:])
        else:
            _hunk_line(changes[-1].hunks[-1], line, number)
    for change in changes:
        for hunk in change.hunks:
            _trim_blank_tail(hunk)
    return changes


def _parse_unified(lines: list[str]) -> list[Change]:
    changes: list[Change] = []
    old_path = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old_path, new_path = _diff_path(line[4:]), _diff_path(lines[i + 1][4:])
            if new_path is None:
                changes.append(Change("delete", old_path or ""))
            elif old_path is None:
                changes.append(Change("add", new_path))
            else:
                move = new_path if new_path != old_path else None
                changes.append(Change("update", old_path, move_to=move))
            i += 2
            continue
        if m := HUNK_HEADER.match(line):
            if not changes:
                raise ToolError(f"patch line {i + 1}: a hunk before any ---/+++ file header")
            hunk = Hunk(line=max(int(m.group(1)) - 1, 0), context="")
            if m.group(2) == "0":
                hunk.line = int(m.group(1))  # an insertion after that line
            changes[-1].hunks.append(hunk)
            i += 1
            while i < len(lines) and not HUNK_HEADER.match(lines[i]) and not _file_header(lines, i):
                _hunk_line(hunk, lines[i], i + 1)
                i += 1
            _trim_blank_tail(hunk)
            continue
        i += 1
    return [c for c in changes if c.kind == "delete" or c.hunks]


def _hunk_line(hunk: Hunk, line: str, number: int) -> None:
    if line.startswith("\\"):
        return  # "\ No newline at end of file": the file keeps its own final newline
    mark, text = (line[0], line[1:]) if line else (" ", "")
    if mark == " ":
        hunk.old.append(text)
        hunk.new.append(text)
    elif mark == "-":
        hunk.old.append(text)
    elif mark == "+":
        hunk.new.append(text)
    else:
        raise ToolError(f"patch line {number}: hunk lines start with ' ', '-' or '+', got {line[:60]!r}")


def _trim_blank_tail(hunk: Hunk) -> None:
    """Blank lines a model leaves after a hunk are not context it meant."""
    while hunk.old and hunk.new and hunk.old[-1] == "" and hunk.new[-1] == "":
        hunk.old.pop()
        hunk.new.pop()


def _file_header(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line.startswith("diff --git ") or (line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")):
        return True
    return False


def _diff_path(raw: str) -> str | None:
    path = raw.split("\t")[0].strip()
    if path == "/dev/null":
        return None
    return path[2:] if path.startswith(("a/", "b/")) else path
