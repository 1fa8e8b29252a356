"""Rendering ranked files in tiers to a token budget.

The hottest files go in whole, the next as signatures (definition headers with the first line of
their docs), the rest as paths grouped by directory, so most repositories fit whole. Costs come
from the token counts cached per file, so rendering never re-counts a repository.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from agent.repomap.source import Source

FULL_SHARE = 0.3  # at most this share of the budget goes to whole files
PATH_SHARE = 0.25  # room kept for listing the files without signatures, at most
SAFETY = 0.01  # the path estimate's margin
CHARS_PER_TOKEN = 3.7
FULL_CANDIDATES = 8  # only this many of the best-ranked files may go in whole
HEADER = ("Repository map: {files} files, ranked for the task. The most relevant are shown in "
          "full, the next as signatures, the rest as paths.\n")


@dataclass
class Rendered:
    text: str
    tokens: int  # estimated from cached counts; the path tier's from its length
    tiers: dict[str, str] = field(default_factory=dict)  # path -> full | signatures | path


def path_cost(path: str) -> float:
    # Paths and names run 3.8 characters a token in Qwen3.6 (measured on Django); 3.7 is safer.
    return (len(path) + 2) / CHARS_PER_TOKEN + 1


@dataclass
class Plan:
    """Which files go in at which tier, and the estimated cost, before any text is read."""

    tiers: dict[str, str]
    spent: float


def plan(ranked: Sequence[Source], budget: int) -> Plan:
    header = HEADER.format(files=len(ranked))
    spent = len(header) / 3 + 8  # with the closing line
    tiers: dict[str, str] = {}
    full_spent = 0.0
    for s in ranked[:FULL_CANDIDATES]:
        cost = (s.size if s.full_tokens is None else s.full_tokens) + path_cost(s.path)
        if full_spent + cost > budget * FULL_SHARE or spent + cost > budget:
            continue
        tiers[s.path] = "full"
        full_spent += cost
        spent += cost
    # Keep room to list the files that get no signatures, up to a share of the budget.
    reserve = min(_listing_cost([s.path for s in ranked if s.path not in tiers]), budget * PATH_SHARE)
    for s in ranked:
        if s.path in tiers or not s.signature_tokens:
            continue
        cost = s.signature_tokens + path_cost(s.path)
        if spent + cost <= budget - reserve:
            tiers[s.path] = "signatures"
            spent += cost
    folders: set[str] = set()
    for s in ranked:
        if s.path in tiers:
            continue
        folder, _, name = s.path.rpartition("/")
        cost = path_cost(name) - 1 + (0 if folder in folders else path_cost(folder))
        if spent + cost > budget * (1 - SAFETY):
            break
        folders.add(folder)
        tiers[s.path] = "path"
        spent += cost
    return Plan(tiers, spent)


def write(root: Path, ranked: Sequence[Source], planned: Plan) -> Rendered:
    """The map's text; the signatures of the files at that tier must be loaded (Source.has_head)."""
    tiers = planned.tiers
    parts = [HEADER.format(files=len(ranked))]
    listed: list[str] = []
    for s in ranked:
        tier = tiers.get(s.path)
        if tier == "full":
            try:
                text = (root / s.path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue  # gone since it was listed: its share of the budget stays unused
            parts.append(f"── {s.path} ──\n{text.rstrip()}\n")
        elif tier == "signatures":
            parts.append(f"{s.path}:\n{s.signatures}\n")
        elif tier == "path":
            listed.append(s.path)
    if listed:
        parts.append("Other files:\n" + _grouped(listed))
    left_out = len(ranked) - len(tiers)
    if left_out:
        parts.append(f"… and {left_out} more files, left out for space.\n")
    return Rendered("\n".join(parts), math.ceil(planned.spent), tiers)


def _listing_cost(paths: list[str]) -> float:
    folders = {p.rpartition("/")[0] for p in paths}
    return sum(path_cost(p.rpartition("/")[2]) - 1 for p in paths) + sum(map(path_cost, folders))


def _grouped(paths: list[str]) -> str:
    by_dir: dict[str, list[str]] = {}
    for path in sorted(paths):
        folder, _, name = path.rpartition("/")
        by_dir.setdefault(folder, []).append(name)
    return "".join(f"{folder + '/' if folder else './'}: {' '.join(names)}\n"
                   for folder, names in by_dir.items())
