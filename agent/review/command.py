"""`heron review`: the pre-commit front-end. A diff in; findings, one summary line and an exit code out.

The diff is split into chunks that fit the budget (agent/review/chunks.py), and each chunk is one
read-only conversation: the model may read the code and reports problems with `report_finding`.
Chunks run in concurrent requests, which a local server batches. A review that cannot reach the
server or runs past --timeout warns and lets the commit through, unless --strict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, TextIO

from agent.config import Config
from agent.errors import ServerError
from agent.findings import SEVERITIES, Finding, Severity
from agent.review.chunks import DEFAULT_CHUNK_TOKENS
from agent.review.diff import FileChange, Target, collect_changes, repo_root
from agent.review.fix import apply_fixes
from agent.review.formats import Summary
from agent.review.formats import render as render_findings
from prompts import render

# Given the paths a change touches, text that helps to review them: the repository map focused on
# those files and their callers. The same text goes into every chunk's system prompt, so the
# chunks share one cached prefix on the server.
ContextProvider = Callable[[Sequence[str]], str]
# Map tokens per request when `map_tokens` is unset: every chunk carries the map, so it stays small.
REVIEW_MAP_TOKENS = 4_000


@dataclass(frozen=True)
class ReviewOptions:
    target: Target = Target("staged")
    output_format: str = "text"
    fail_on: Severity = "blocker"
    timeout: float = 120.0
    strict: bool = False
    fix: bool = False
    jobs: int = 4
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS


def run_review(config: Config, repo: Path, options: ReviewOptions, out: TextIO, err: TextIO,
               env: Mapping[str, str], context: ContextProvider | None = None) -> int:
    if env.get("HERON_SKIP") == "1":
        print("heron review: skipped (HERON_SKIP=1)", file=err)
        return 0
    started = time.monotonic()
    root = repo_root(repo)
    changes = collect_changes(root, options.target)
    reviewable = [c for c in changes if not c.skipped]
    findings: list[Finding] = []
    tokens = 0
    if reviewable:
        # Imported only when there is something to review: the model client's imports cost about
        # a second, which every commit with nothing to review would otherwise pay.
        from agent.review.run import TokenCounter, repo_map_context, review_chunks

        counter = TokenCounter()
        if context is None and config.map_tokens != 0:
            context = repo_map_context(root, config.map_tokens or REVIEW_MAP_TOKENS)
        system = render("review", workspace=str(root), repo_context=_repo_context(context, reviewable))
        try:
            findings = review_chunks(config, root, reviewable, options.chunk_tokens, system, options.target,
                                     options.jobs, options.timeout, counter, err)
        except ServerError as e:
            print(f"heron review: warning: {e}; the change was not reviewed", file=err)
            return e.exit_code if options.strict else 0
        tokens = counter.total
    findings.sort(key=lambda f: (f.file, f.line, -SEVERITIES.index(f.severity)))
    summary = Summary(len(reviewable), len(changes) - len(reviewable), findings,
                      time.monotonic() - started, tokens)
    colour = options.output_format == "text" and out.isatty() and "NO_COLOR" not in env
    text = render_findings(options.output_format, summary, colour)
    if text:
        print(text, file=out)
    if options.fix:
        _fix(root, findings, reviewable, err)
    print(summary.line(), file=err)
    threshold = SEVERITIES.index(options.fail_on)
    return 1 if any(SEVERITIES.index(f.severity) >= threshold for f in findings) else 0


def _repo_context(context: ContextProvider | None, changes: list[FileChange]) -> str:
    text = context([c.path for c in changes]) if context else ""
    return f"\nThe repository map, focused on the changed files and their callers:\n\n{text}" if text else ""


def _fix(root: Path, findings: list[Finding], changes: list[FileChange], err: TextIO) -> None:
    results = apply_fixes(root, findings, {c.path: c.new_text for c in changes})
    for r in results:
        verdict = "fixed" if r.applied else f"not fixed ({r.note})"
        print(f"heron review: {verdict}: {r.finding.file}:{r.finding.line} {r.finding.message}", file=err)
    if any(r.applied for r in results):
        print("heron review: the fixes are in the working tree, not staged: look at them with "
              "`git diff`, then `git add` them", file=err)
