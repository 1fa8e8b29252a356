"""The output formats of `heron review`: text for people, json, SARIF 2.1.0 and GitHub annotations."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Callable

from agent import __version__
from agent.findings import SEVERITIES, Finding

FORMATS = ("text", "json", "sarif", "github")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {"blocker": "error", "warning": "warning", "nit": "note"}
GITHUB_COMMANDS = {"blocker": "error", "warning": "warning", "nit": "notice"}
COLOURS = {"blocker": "\x1b[1;31m", "warning": "\x1b[33m", "nit": "\x1b[36m"}
DIM, RESET = "\x1b[2m", "\x1b[0m"


@dataclass(frozen=True)
class Summary:
    files: int
    skipped: int
    findings: list[Finding]
    seconds: float
    tokens: int

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings) for s in reversed(SEVERITIES)}

    def line(self) -> str:
        counts = ", ".join(f"{n} {s}{'' if n == 1 else 's'}" for s, n in self.counts().items())
        skipped = f" ({self.skipped} skipped)" if self.skipped else ""
        return (f"heron review: {self.files} file{'' if self.files == 1 else 's'}{skipped}, {counts}, "
                f"{self.seconds:.1f} s, {self.tokens:,} tokens")


def render(fmt: str, summary: Summary, colour: bool) -> str:
    """The findings in `fmt`; empty when text or github have nothing to say."""
    writers: dict[str, Callable[[Summary, bool], str]] = {
        "text": _text, "json": _json, "sarif": _sarif, "github": _github,
    }
    return writers[fmt](summary, colour)


def _text(summary: Summary, colour: bool) -> str:
    def paint(code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if colour else text

    out = []
    for f in summary.findings:
        out.append(f"{f.file}:{f.line}: {paint(COLOURS[f.severity], f.severity)} [{f.category}] {f.message}")
        if f.suggestion is not None:
            out += [paint(DIM, f"    | {line}") for line in f.suggestion.splitlines() or [""]]
    return "\n".join(out)


def _json(summary: Summary, colour: bool) -> str:
    return json.dumps({
        "findings": [dataclasses.asdict(f) for f in summary.findings],
        "summary": {"files": summary.files, "skipped": summary.skipped, **summary.counts(),
                    "seconds": round(summary.seconds, 3), "tokens": summary.tokens},
    }, indent=2, ensure_ascii=False)


def _sarif(summary: Summary, colour: bool) -> str:
    categories = sorted({f.category for f in summary.findings})
    rules = [{"id": c, "name": c.title().replace("-", ""), "shortDescription": {"text": f"{c} problems"}}
             for c in categories]
    results = []
    for f in summary.findings:
        location = {"physicalLocation": {
            "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": f.line, "endLine": f.end_line},
        }}
        result = {
            "ruleId": f.category, "ruleIndex": categories.index(f.category),
            "level": SARIF_LEVELS[f.severity], "message": {"text": f.message},
            "locations": [location], "properties": {"severity": f.severity},
        }
        if f.suggestion is not None:
            result["fixes"] = [{
                "description": {"text": "suggested by heron review"},
                "artifactChanges": [{
                    "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"},
                    "replacements": [{
                        "deletedRegion": {"startLine": f.line, "endLine": f.end_line},
                        "insertedContent": {"text": _as_lines(f.suggestion)},
                    }],
                }],
            }]
        results.append(result)
    return json.dumps({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "heron", "version": __version__, "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository root"}}},
            "results": results,
        }],
    }, indent=2, ensure_ascii=False)


def _github(summary: Summary, colour: bool) -> str:
    """Workflow commands: `::error file=F,line=N,title=T::message`, escaped as the runner expects."""
    return "\n".join(
        f"::{GITHUB_COMMANDS[f.severity]} file={_prop(f.file)},line={f.line},endLine={f.end_line},"
        f"title={_prop(f'heron {f.severity} [{f.category}]')}::{_data(f.message)}"
        for f in summary.findings
    )


def _as_lines(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
