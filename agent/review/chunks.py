"""Splitting a review into requests that fit the budget: by file, then by groups of hunks.

Each Chunk is the text one model conversation reads (each file's enclosing definitions and its
hunks, numbered by new-file line) and the ReviewScope its findings must fall in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.findings import Hunk, ReviewScope
from agent.model.tokens import count_tokens

if TYPE_CHECKING:  # every heron command reads DEFAULT_CHUNK_TOKENS; tree-sitter need not load for it
    from agent.review.diff import DiffHunk, FileChange

DEFAULT_CHUNK_TOKENS = 24_000


@dataclass(frozen=True)
class Part:
    """One file, or a group of its hunks, rendered."""

    change: FileChange
    hunks: tuple[DiffHunk, ...]
    text: str


@dataclass(frozen=True)
class Chunk:
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.parts)

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(p.change.path for p in self.parts))

    @property
    def scope(self) -> ReviewScope:
        hunks: dict[str, tuple[Hunk, ...]] = {}
        for part in self.parts:
            hunks[part.change.path] = hunks.get(part.change.path, ()) + tuple(h.span for h in part.hunks)
        return ReviewScope(hunks)


def split(changes: list[FileChange], budget: int) -> list[Chunk]:
    """Pack files into chunks of at most `budget` tokens; a file too big alone is cut between hunks.

    A single hunk larger than the budget still goes alone into its own chunk: it cannot be cut.
    """
    parts = [part for change in changes for part in _parts(change, budget)]
    chunks: list[tuple[Part, ...]] = []
    for part in parts:
        if chunks and fits(Chunk((*chunks[-1], part)).text, budget):
            chunks[-1] = (*chunks[-1], part)
        else:
            chunks.append((part,))
    return [Chunk(c) for c in chunks]


def fits(text: str, budget: int) -> bool:
    # A token covers at least one byte, so short texts fit without loading the tokenizer.
    return len(text.encode("utf-8")) <= budget or count_tokens(text) <= budget


def _parts(change: FileChange, budget: int) -> list[Part]:
    whole = Part(change, change.hunks, render(change, change.hunks))
    if fits(whole.text, budget):
        return [whole]
    groups: list[tuple[DiffHunk, ...]] = []
    for hunk in change.hunks:
        if groups and fits(render(change, (*groups[-1], hunk)), budget):
            groups[-1] = (*groups[-1], hunk)
        else:
            groups.append((hunk,))
    return [Part(change, group, render(change, group)) for group in groups]


def render(change: FileChange, hunks: tuple[DiffHunk, ...]) -> str:
    """A file's hunks as the model reads them: new-file line numbers beside every line it can blame."""
    lines = [f"## {change.path} ({change.status}{', ' + change.language if change.language else ''})"]
    definitions = change.definitions(hunks)
    if definitions:
        lines.append("Enclosing definitions in the new version:")
        for d in definitions:
            lines.append(f"[lines {d.start}-{d.end}]" + ("" if d.whole else " (first line only)"))
            lines += [f"{n:>5} | {text}" for n, text in enumerate(d.text.splitlines(), start=d.start)]
    lines.append("Diff (new-file line numbers; + added, - removed):")
    for hunk in hunks:
        lines.append(hunk.header)
        lines += [f"{'' if l.new_line is None else l.new_line:>5} {l.kind} {l.text}" for l in hunk.lines]
    return "\n".join(lines)
