"""The data of a review: severities, the changed lines findings may blame, and the findings.

Plain dataclasses with no heavy imports, so the CLI and the output formats can use them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["blocker", "warning", "nit"]
SEVERITIES: tuple[Severity, ...] = ("nit", "warning", "blocker")  # in rising order


@dataclass(frozen=True)
class Hunk:
    """One hunk's span in the new version of a file, and the lines in it that count as changed."""

    start: int
    end: int
    changed: tuple[int, ...]


@dataclass(frozen=True)
class ReviewScope:
    hunks: dict[str, tuple[Hunk, ...]] = field(default_factory=dict)

    def changed_lines(self, path: str) -> str:
        lines = sorted({n for h in self.hunks.get(path, ()) for n in h.changed})
        return _ranges(lines)


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    end_line: int
    severity: Severity
    category: str
    message: str
    suggestion: str | None = None


def _ranges(lines: list[int]) -> str:
    spans: list[str] = []
    for n in lines:
        if spans and int(spans[-1].split("-")[-1]) == n - 1:
            spans[-1] = f"{spans[-1].split('-')[0]}-{n}"
        else:
            spans.append(str(n))
    return ", ".join(spans) or "none"
