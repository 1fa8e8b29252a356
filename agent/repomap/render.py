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
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence

from agent.repomap.source import Source, folder_label, names_line

if TYPE_CHECKING:
    import numpy as np  # loaded when planning, as agent.repomap is imported before any map is made

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
# Planned from costs kept per file (tier_costs), from these counts of each Source.
PLANNED_TIERS = {"signatures": "signature_tokens", "names": "name_tokens"}
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
    shown: list[int] = field(default_factory=list)  # the places of those files in the ranking, ascending


def plan(ranked: Sequence[Source], budget: int, costs: Mapping[str, np.ndarray],
         named_only: Callable[[str], bool] = lambda path: False) -> Plan:
    """`costs`: each file's tier_costs as signatures and as names, in ranked order. `named_only`
    files (secret files) are listed by path and nothing of their text is shown."""
    header = HEADER.format(files=len(ranked))
    spent = len(header) / 3 + 8  # with the closing line
    # Every tier is planned within the margin, not only the last: signatures taking it left the
    # listing short of what was kept for it (451 of sympy's 1,941 files out of a 262K map).
    usable = budget * (1 - SAFETY)
    tiers: dict[str, str] = {}
    shown: list[int] = []
    full_spent = 0.0
    for i, s in enumerate(ranked[:FULL_CANDIDATES]):
        if named_only(s.path):
            continue
        cost = (s.size if s.full_tokens is None else s.full_tokens) + s.path_tokens + FRAME["full"]
        if full_spent + cost > budget * FULL_SHARE or spent + cost > usable:
            continue
        tiers[s.path] = "full"
        shown.append(i)
        full_spent += cost
        spent += cost

    def unplaced(tier: str) -> np.ndarray:
        """The tier's costs, infinite for the files placed already: a file gets one tier."""
        left = costs[tier].copy()
        left[shown] = math.inf
        return left

    # Keep room to list the files that get no signatures, and to name what some of them define,
    # each up to a share of the budget.
    reserve = HEADING_COST + _capped((cost for _, cost in _listings(ranked, tiers)), budget * PATH_SHARE)
    names = unplaced("names")
    names_room = min(float(names[names < math.inf].sum()), budget * NAMES_SHARE)

    def refused(i: int) -> bool:
        # Asked last, of the files that fit: asked of each of 180,000 files it took most of a turn.
        return named_only(ranked[i].path)

    for tier, room, extra in (("signatures", usable - reserve - names_room, 0), ("names", usable - reserve, HEADING_COST)):
        taken, cost = _fitting(unplaced(tier), room - spent, refused, first_extra=extra)
        tiers.update((ranked[i].path, tier) for i in taken)
        shown += taken
        spent += cost
    heading = HEADING_COST
    for i, cost in _listings(ranked, tiers):
        if spent + cost + heading > usable:
            break
        tiers[ranked[i].path] = "path"
        shown.append(i)
        spent += cost + heading
        heading = 0
    return Plan(tiers, spent, sorted(shown))


def tier_costs(tokens: np.ndarray, path_tokens: np.ndarray, tier: str) -> np.ndarray:
    """What showing each file as signatures or as names costs, from its tokens as that tier
    (Source.signature_tokens or name_tokens) and its path's; infinite for a file that has none."""
    import numpy as np

    return np.where(tokens > 0, tokens + path_tokens + FRAME[tier], math.inf)


def _fitting(costs: np.ndarray, room: float, refused: Callable[[int], bool],
             first_extra: float = 0.0) -> tuple[list[int], float]:
    """The places a pass in order takes, each when its cost still fits in `room` and `refused`
    (asked only of those that fit) lets it, the first one taken costing `first_extra` more; and
    what they cost together. What a loop over the files would take, found a run at a time with
    numpy: a loop over the 180,000 files of a big tree took a tenth of a second a tier."""
    import numpy as np

    taken: list[int] = []
    used = 0.0
    left = np.arange(len(costs))
    while len(left) and first_extra:  # the first: the one that fits with the extra
        fits = np.flatnonzero(costs[left] + first_extra <= room)
        if not len(fits):
            return taken, used
        i, left = int(left[fits[0]]), left[fits[0] + 1:]
        if not refused(i):
            taken.append(i)
            used = float(costs[i]) + first_extra
            first_extra = 0.0
    while len(left):
        left = left[costs[left] <= room - used]  # room only shrinks: what does not fit now never will
        total = np.cumsum(costs[left])
        run = int(np.searchsorted(total, room - used, side="right"))  # these fit one after another
        cut = next((k for k in range(run) if refused(int(left[k]))), run)
        taken += left[:cut].tolist()
        used += float(total[cut - 1]) if cut else 0.0
        left = left[cut + 1:] if cut < run else left[run:]
    return taken, used


def write(root: Path, ranked: Sequence[Source], planned: Plan) -> Rendered:
    """The map's text; the heads of the files shown as signatures or names must be loaded
    (Source.has_head)."""
    tiers = planned.tiers
    parts = [HEADER.format(files=len(ranked))]
    named: list[str] = []
    listed: list[str] = []
    for s in (ranked[i] for i in planned.shown):
        tier = tiers[s.path]
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


def _listings(ranked: Sequence[Source], tiers: dict[str, str]) -> Iterator[tuple[int, float]]:
    """The files without a tier, by their place in the ranking, each with what listing it by path
    adds: its name, and its folder's label the first time the folder comes."""
    folders: set[str] = set()
    for i, s in enumerate(ranked):
        if s.path in tiers:
            continue
        folder = s.path.rpartition("/")[0]
        yield i, s.listing_tokens + (0 if folder in folders else s.folder_tokens)
        folders.add(folder)


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
