"""Rendering ranked files in tiers to a token budget.

The hottest files go in whole, the next as signatures (definition headers with the first line of
their docs), the next as the names they define, the rest as paths grouped by directory, so most
repositories fit whole. Signatures get what whole files leave, but for a share kept to list the
other files and name what some of them define. Costs come
from the token counts cached per file, so rendering never re-counts a repository.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from agent.repomap.source import Source, folder_label, names_line

FULL_SHARE = 0.3  # at most this share of the budget goes to whole files
PATH_SHARE = 0.25  # room kept for listing the files without signatures, at most
# Room kept for the names of the files without signatures, at most; signatures take the rest.
# With a fixed 30% for signatures instead, the file an issue's fix touched was shown whole or as
# signatures in 87.3% of 32K maps and 93.0% of 262K maps (tests/bench/localize.py), and as no more
# than the names it defines in the rest; the names of 1,500 files of sympy take 175K tokens. A
# file's signatures are what the model can call it by, its names only what to look for: at 15% the
# names of some 30 files of a 32K map crowded out the signatures of a file ranked 15th. Over
# 0-15% on the 71 instances, whole or as signatures: 32K maps 88.7% at 0-12% (87.3% at 15%),
# 262K maps 98.6% at 0-5% (97.2% above), default maps 90.1% throughout.
NAMES_SHARE = 0.05
SAFETY = 0.01  # margin for tokens merging across the joins of counted pieces
FULL_CANDIDATES = 8  # only this many of the best-ranked files may go in whole
# Tokens an entry adds to its path's and its text's: "── path ──" and newlines; ":" and newlines.
FRAME = {"full": 6, "signatures": 3, "names": 2}
NAMES_HEADING = "Names defined:\n"
OTHER_HEADING = "Other files:\n"
HEADING_COST = 5  # of either heading, each paid once
HEADER = ("Repository map: {files} files, ranked for the task. The most relevant are shown in "
          "full, the next as signatures, then the names the next define, the rest as paths.\n")


@dataclass
class Rendered:
    text: str
    tokens: int  # from the token counts cached per file and piece
    tiers: dict[str, str] = field(default_factory=dict)  # path -> full | signatures | names | path


@dataclass
class Plan:
    """Which files go in at which tier, and the estimated cost, before any text is read."""

    tiers: dict[str, str]
    spent: float


def plan(ranked: Sequence[Source], budget: int, named_only: Callable[[str], bool] = lambda path: False) -> Plan:
    """`named_only` files (secret files) are listed by path and nothing of their text is shown."""
    header = HEADER.format(files=len(ranked))
    spent = len(header) / 3 + 8  # with the closing line
    tiers: dict[str, str] = {}
    full_spent = 0.0
    for s in ranked[:FULL_CANDIDATES]:
        if named_only(s.path):
            continue
        cost = (s.size if s.full_tokens is None else s.full_tokens) + s.path_tokens + FRAME["full"]
        if full_spent + cost > budget * FULL_SHARE or spent + cost > budget:
            continue
        tiers[s.path] = "full"
        full_spent += cost
        spent += cost
    # Keep room to list the files that get no signatures, and to name what some of them define,
    # each up to a share of the budget.
    rest = [s for s in ranked if s.path not in tiers]
    reserve = _listing_cost(rest, budget * PATH_SHARE)
    names_room = _capped((s.name_tokens + s.path_tokens + FRAME["names"] for s in rest if s.name_tokens),
                         budget * NAMES_SHARE)
    # named_only is asked last, of the files that fit: asked of each of 180,000 files it took
    # most of a turn's time.
    for s in rest:
        if not s.signature_tokens:
            continue
        cost = s.signature_tokens + s.path_tokens + FRAME["signatures"]
        if spent + cost <= budget - reserve - names_room and not named_only(s.path):
            tiers[s.path] = "signatures"
            spent += cost
    heading = HEADING_COST
    for s in ranked:
        if s.path in tiers or not s.name_tokens:
            continue
        cost = s.name_tokens + s.path_tokens + FRAME["names"] + heading
        if spent + cost <= budget - reserve and not named_only(s.path):
            tiers[s.path] = "names"
            spent += cost
            heading = 0
    folders: set[str] = set()
    heading = HEADING_COST
    for s in ranked:
        if s.path in tiers:
            continue
        folder = s.path.rpartition("/")[0]
        cost = s.listing_tokens + (0 if folder in folders else s.folder_tokens) + heading
        if spent + cost > budget * (1 - SAFETY):
            break
        folders.add(folder)
        tiers[s.path] = "path"
        spent += cost
        heading = 0
    return Plan(tiers, spent)


def write(root: Path, ranked: Sequence[Source], planned: Plan) -> Rendered:
    """The map's text; the heads of the files shown as signatures or names must be loaded
    (Source.has_head)."""
    tiers = planned.tiers
    parts = [HEADER.format(files=len(ranked))]
    named: list[str] = []
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
        elif tier == "names":
            named.append(f"{s.path}: {names_line(s.defs)}\n")
        elif tier == "path":
            listed.append(s.path)
    if named:
        parts.append(NAMES_HEADING + "".join(named))
    if listed:
        parts.append(OTHER_HEADING + _grouped(listed))
    left_out = len(ranked) - len(tiers)
    if left_out:
        parts.append(f"… and {left_out} more files, left out for space.\n")
    return Rendered("\n".join(parts), math.ceil(planned.spent), tiers)


def _listing_cost(sources: list[Source], cap: float) -> float:
    """What listing the sources by path costs, up to `cap`."""
    folders: set[str] = set()

    def costs() -> Iterator[float]:
        for s in sources:
            folder = s.path.rpartition("/")[0]
            yield s.listing_tokens + (0 if folder in folders else s.folder_tokens)
            folders.add(folder)

    return _capped(costs(), cap)


def _capped(costs: Iterable[float], cap: float) -> float:
    """The sum of the costs, or `cap` if it is less: counted only that far, as a tree of 100,000
    files would otherwise be counted whole at every turn."""
    total = 0.0
    for cost in costs:
        total += cost
        if total >= cap:
            return cap
    return total


def _grouped(paths: list[str]) -> str:
    by_dir: dict[str, list[str]] = {}
    for path in sorted(paths):
        folder, _, name = path.rpartition("/")
        by_dir.setdefault(folder, []).append(name)
    return "".join(f"{folder_label(folder)}: {' '.join(names)}\n" for folder, names in by_dir.items())
