"""`heron review --fix`: the findings' suggested fixes, written to the working tree, never the index.

A suggestion replaces lines line..end_line of the reviewed version. The working tree may differ
from it (unstaged edits, later commits), so each fix is placed where those exact lines stand now:
at the same place, or else at their one occurrence in the file; otherwise it is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.edits import textfile
from agent.findings import Finding
from tools.base import ToolError


@dataclass(frozen=True)
class FixResult:
    finding: Finding
    applied: bool
    note: str


def apply_fixes(root: Path, findings: list[Finding], reviewed: dict[str, str]) -> list[FixResult]:
    """Apply every suggestion; `reviewed` holds the reviewed text of each file."""
    results: list[FixResult] = []
    by_file: dict[str, list[Finding]] = {}
    for f in findings:
        if f.suggestion is not None:
            by_file.setdefault(f.file, []).append(f)
    for path, file_findings in by_file.items():
        results += _fix_file(root / path, reviewed[path], file_findings)
    return results


def _fix_file(path: Path, reviewed: str, findings: list[Finding]) -> list[FixResult]:
    if not path.is_file():
        return [FixResult(f, False, "the file is not in the working tree") for f in findings]
    try:
        file, _ = textfile.load(path, str(path))
    except ToolError as e:
        return [FixResult(f, False, str(e)) for f in findings]
    # Encoding, byte-order mark and line endings are kept as the file has them.
    current = file.text.splitlines(keepends=True)
    old = reviewed.splitlines(keepends=True)
    results: list[FixResult] = []
    applied: list[Finding] = []
    # Bottom-up, so a fix does not move the lines of the fixes still to come.
    for f in sorted(findings, key=lambda f: f.line, reverse=True):
        if any(f.line <= a.end_line and a.line <= f.end_line for a in applied):
            results.append(FixResult(f, False, "it overlaps another fix"))
            continue
        expected = old[f.line - 1:f.end_line]
        start = _locate(current, expected, f.line - 1)
        if start is None:
            results.append(FixResult(f, False, "those lines have changed in the working tree"))
            continue
        replacement = f.suggestion or ""
        if replacement and not replacement.endswith("\n") and expected[-1].endswith("\n"):
            replacement += "\n"
        current[start:start + len(expected)] = replacement.splitlines(keepends=True)
        applied.append(f)
        results.append(FixResult(f, True, "applied"))
    if any(r.applied for r in results):
        textfile.save(path, file.with_text("".join(current)))
    return results


def _locate(lines: list[str], block: list[str], at: int) -> int | None:
    if not block:
        return None
    if lines[at:at + len(block)] == block:
        return at
    starts = [i for i in range(len(lines) - len(block) + 1) if lines[i:i + len(block)] == block]
    return starts[0] if len(starts) == 1 else None
