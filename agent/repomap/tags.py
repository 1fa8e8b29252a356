"""Definitions and references in one source file, from tree-sitter tag queries.

The queries are data: queries/<language>.scm, written for heron. Each capture `@def.name` is the
name of a definition whose whole node is captured as `@def`; `@ref.name` is a name used.
Each query is compiled once per language per process.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from operator import attrgetter

from tree_sitter import Node, Query, QueryCursor

from agent.repomap.languages import grammar, parser

# Languages that share another's query file.
QUERY_OF = {"tsx": "typescript"}
MAX_HEADER_LINES = 6
MAX_LINE_CHARS = 200
TEXT, START = attrgetter("text"), attrgetter("start_byte")


@dataclass
class Tags:
    defs: list[tuple[str, int]] = field(default_factory=list)  # (name, 1-based line)
    # Name -> how often it is used. Their lines are found when asked (reference_lines): kept for
    # every file, hundreds of thousands of them cost more to pass between processes and to cache
    # than counting them all.
    refs: dict[str, int] = field(default_factory=dict)
    signatures: list[str] = field(default_factory=list)  # header lines of each definition, in order


@lru_cache(maxsize=None)
def query(language: str) -> Query:
    name = QUERY_OF.get(language, language)
    text = resources.files("agent.repomap").joinpath(f"queries/{name}.scm").read_text()
    return Query(grammar(language), text)


def extract(source: bytes, language: str) -> Tags:
    captures = tag_captures(source, language)
    # Split as tree-sitter counts rows: a form feed or U+2028 ends no line for it.
    lines = source.split(b"\n")
    tags = Tags()
    seen: set[int] = set()  # a name matched by two patterns counts once
    definitions = {node.id: node for node in captures.get("def", ())}
    headers: dict[int, list[str]] = {}
    for name_node in sorted(captures.get("def.name", ()), key=START):
        if name_node.start_byte in seen:
            continue
        seen.add(name_node.start_byte)
        tags.defs.append((_text(name_node), name_node.start_point[0] + 1))
        node = _enclosing(name_node, definitions)
        if node is not None:
            headers.setdefault(node.start_point[0], _header(node, lines, language))
    # Counted in C: there are a hundred thousand in a large repository.
    for name, count in Counter(map(TEXT, _references(captures, seen))).items():
        text = name.decode("utf-8", "replace")
        tags.refs[text] = tags.refs.get(text, 0) + count
    for row in sorted(headers):
        tags.signatures.extend(headers[row])
    return tags


def reference_lines(source: bytes, language: str, name: str) -> list[int]:
    """The 1-based lines of the uses of `name` that extract counts, in order."""
    captures = tag_captures(source, language)
    defined = {node.start_byte for node in captures.get("def.name", ())}
    wanted = name.encode()
    return sorted(node.start_point[0] + 1 for node in _references(captures, defined) if node.text == wanted)


def tag_captures(source: bytes, language: str) -> dict[str, list[Node]]:
    """The source parsed and its language's tag query run over it: the tree-sitter work under every tag."""
    return QueryCursor(query(language)).captures(parser(language).parse(source).root_node)


def _references(captures: dict[str, list[Node]], defined: set[int]) -> list[Node]:
    """The names used, but not where they are defined: some queries take every type name for a
    use, the one in `struct Point` too."""
    used = captures.get("ref.name", [])
    if not defined or defined.isdisjoint(map(START, used)):
        return used
    return [node for node in used if node.start_byte not in defined]


def _enclosing(name: Node, definitions: dict[int, Node]) -> Node | None:
    """The definition a name belongs to: its nearest captured ancestor (by node id)."""
    node = name.parent
    while node is not None:
        found = definitions.get(node.id)
        if found is not None:
            return found
        node = node.parent
    return None


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _header(node: Node, lines: list[bytes], language: str) -> list[str]:
    """The lines that declare a definition (up to its body), then its doc comment's first line."""
    start = node.start_point[0]
    body = node.child_by_field_name("body")
    end = start
    if body is not None and body.start_point[0] > start:
        # Python's body starts on the line after the colon; braces open on the header's last line.
        end = body.start_point[0] - (1 if language == "python" else 0)
    end = min(end, start + MAX_HEADER_LINES - 1, len(lines) - 1)
    header = [_clip(line.decode("utf-8", "replace").rstrip("\r")) for line in lines[start : end + 1]]
    doc = _doc_line(node, body, language)
    if doc:
        indent = len(header[0]) - len(header[0].lstrip()) if header else 0
        if language == "python":
            header.append(" " * (indent + 4) + doc)
        else:
            header.insert(0, " " * indent + doc)
    return header


def _doc_line(node: Node, body: Node | None, language: str) -> str | None:
    if language == "python":
        # A body may have no named child at all, e.g. in a file holding conflict markers.
        first = body.named_child(0) if body is not None and body.named_child_count else None
        if first is not None and first.type == "expression_statement" and first.named_child_count:
            first = first.named_child(0)  # older grammars wrap the docstring in a statement
        return _first_line(_text(first)) if first is not None and first.type == "string" else None
    before = node.prev_named_sibling
    if before is not None and "comment" in before.type and before.end_point[0] >= node.start_point[0] - 1:
        return _first_line(_text(before))
    return None


def _first_line(text: str) -> str | None:
    for line in text.splitlines():
        line = line.strip()
        if line.strip("\"'/*#-!<> rbuRBU").strip():
            return _clip(line)
    return None


def _clip(line: str) -> str:
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"
