"""Rendering ranked files in tiers to a token budget.

The hottest files go in whole, the next as signatures (definition headers with the first line of
their docs), the rest as paths grouped by directory, so most repositories fit whole. Costs come
from the token counts cached per file, so rendering never re-counts a repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from agent.repomap.source import Source

FULL_SHARE = 0.5  # at most this share of the budget goes to whole files
FULL_CANDIDATES = 8  # only this many of the best-ranked files may go in whole
HEADER = ("Repository map: {files} files, ranked for the task. The most relevant are shown in "
          "full, the next as signatures, the rest as paths.\n")


@dataclass
class Rendered:
    text: str
    tokens: int  # estimated from cached counts; an upper bound for the path tier
    tiers: dict[str, str] = field(default_factory=dict)  # path -> full | signatures | path


def path_cost(path: str) -> int:
    # Paths run about 3.5 characters a token; 3 keeps the estimate on the safe side.
    return len(path) // 3 + 2


def render(root: Path, ranked: Sequence[Source], budget: int) -> Rendered:
    header = HEADER.format(files=len(ranked))
    spent = path_cost(header) * 2
    paths_left = sum(path_cost(s.path) for s in ranked)
    tiers: dict[str, str] = {}
    texts: dict[str, str] = {}
    full_spent = 0
    for s in ranked[:FULL_CANDIDATES]:
        cost = (s.size if s.full_tokens is None else s.full_tokens) + path_cost(s.path)
        if full_spent + cost > budget * FULL_SHARE or spent + cost + paths_left > budget:
            continue
        try:
            texts[s.path] = (root / s.path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        tiers[s.path] = "full"
        full_spent += cost
        spent += cost - path_cost(s.path)
        paths_left -= path_cost(s.path)
    for s in ranked:
        if s.path in tiers or not s.signatures:
            continue
        cost = s.signature_tokens + path_cost(s.path)
        if spent + cost + paths_left - path_cost(s.path) > budget:
            continue
        tiers[s.path] = "signatures"
        spent += cost
        paths_left -= path_cost(s.path)
    listed = []
    for s in ranked:
        if s.path in tiers:
            continue
        if spent + path_cost(s.path) > budget - 20:
            break
        tiers[s.path] = "path"
        listed.append(s.path)
        spent += path_cost(s.path)
    parts = [header]
    for s in ranked:
        if tiers.get(s.path) == "full":
            parts.append(f"── {s.path} ──\n{texts[s.path].rstrip()}\n")
        elif tiers.get(s.path) == "signatures":
            parts.append(f"{s.path}:\n{s.signatures}\n")
    if listed:
        parts.append("Other files:\n" + _grouped(listed))
    left_out = len(ranked) - len(tiers)
    if left_out:
        parts.append(f"… and {left_out} more files, left out for space.\n")
    return Rendered("\n".join(parts), spent, tiers)


def _grouped(paths: list[str]) -> str:
    by_dir: dict[str, list[str]] = {}
    for path in sorted(paths):
        folder, _, name = path.rpartition("/")
        by_dir.setdefault(folder, []).append(name)
    return "".join(f"{folder + '/' if folder else './'}: {' '.join(names)}\n"
                   for folder, names in by_dir.items())
