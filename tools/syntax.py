"""Syntax errors an edit introduced, found by re-parsing the file with tree-sitter."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from tree_sitter import Node

from agent.repomap.languages import language_of, parser

MAX_REPORTED = 5


@dataclass(frozen=True)
class SyntaxProblem:
    line: int  # 1-based
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def problems(path: str, text: str) -> list[SyntaxProblem]:
    """The parse errors of `text` as the grammar of `path` reads it; none for unknown languages."""
    language = language_of(path)
    if language is None:
        return []
    tree = parser(language).parse(text.encode("utf-8", errors="surrogateescape"))
    found: list[SyntaxProblem] = []
    _collect(tree.root_node, found)
    return found


def introduced(path: str, before: str, after: str) -> list[SyntaxProblem]:
    """Errors in `after` beyond those `before` already had (compared by what, not where)."""
    found = problems(path, after)
    if not found:
        return []  # the usual case: one parse is enough
    old = Counter(p.what for p in problems(path, before))
    new = []
    for p in found:
        if old[p.what] > 0:
            old[p.what] -= 1
        else:
            new.append(p)
    return new


def describe(found: Sequence[object]) -> str:
    """The warning the model reads, for problems or `path line N: ...` strings."""
    shown = "; ".join(map(str, found[:MAX_REPORTED]))
    more = f"; and {len(found) - MAX_REPORTED} more" if len(found) > MAX_REPORTED else ""
    return f"Warning: this edit introduced syntax errors: {shown}{more}. Fix them before going on."


def _collect(node: Node, found: list[SyntaxProblem]) -> None:
    if node.is_missing:
        found.append(SyntaxProblem(node.start_point[0] + 1, f"missing `{node.type}`"))
        return
    if node.type == "ERROR":
        text = (node.text or b"").decode("utf-8", errors="replace").strip().split("\n")[0][:40]
        found.append(SyntaxProblem(node.start_point[0] + 1, f"cannot parse `{text}`" if text else "parse error"))
        return
    if node.has_error:
        for child in node.children:
            _collect(child, found)
