"""`heron review`: the pre-commit front-end. A diff in; findings, one summary line and an exit code out.

The diff is split into chunks that fit the budget (agent/review_chunks.py), and each chunk is one
read-only conversation: the model may read the code and reports problems with `report_finding`.
Chunks run in concurrent requests, which a local server batches. A review that cannot reach the
server or runs past --timeout warns and lets the commit through, unless --strict.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence, TextIO, TypeVar

from agent.config import Config
from agent.dispatch import Dispatcher, deny_all
from agent.errors import ServerError
from agent.events import Event, Usage
from agent.loop import Loop
from agent.review_chunks import DEFAULT_CHUNK_TOKENS, Chunk, split
from agent.review_diff import FileChange, Target, collect_changes, repo_root
from agent.review_fix import apply_fixes
from agent.review_formats import Summary, render as render_findings
from agent.runtime import Runtime, open_runtime
from prompts import render
from tools.base import Tool, ToolContext
from tools.plan import finish
from tools.policy import Policy
from tools.registry import DEFAULT_TOOLS
from tools.review import FINDINGS_KEY, SCOPE_KEY, SEVERITIES, Finding, Severity, report_finding

T = TypeVar("T")

# Given the paths a change touches, text that helps to review them: the repository map focused on
# those files and their callers. The same text goes into every chunk's system prompt, so the
# chunks share one cached prefix on the server.
ContextProvider = Callable[[Sequence[str]], str]


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


class ReviewTimedOut(ServerError):
    """The review ran past --timeout."""


def review_tools() -> tuple[Tool, ...]:
    """Every read-only tool heron has, the finding reporter, and finish."""
    return (*(t for t in DEFAULT_TOOLS if t.kind == "read"), report_finding, finish)


def run_review(config: Config, repo: Path, options: ReviewOptions, out: TextIO, err: TextIO,
               env: Mapping[str, str], context: ContextProvider | None = None) -> int:
    if env.get("HERON_SKIP") == "1":
        print("heron review: skipped (HERON_SKIP=1)", file=err)
        return 0
    started = time.monotonic()
    root = repo_root(repo)
    changes = collect_changes(root, options.target)
    reviewable = [c for c in changes if not c.skipped]
    tokens = TokenCounter()
    try:
        findings = _review(config, root, reviewable, options, tokens, err, context) if reviewable else []
    except ServerError as e:
        print(f"heron review: warning: {e}; the change was not reviewed", file=err)
        return e.exit_code if options.strict else 0
    findings.sort(key=lambda f: (f.file, f.line, -SEVERITIES.index(f.severity)))
    summary = Summary(len(reviewable), len(changes) - len(reviewable), findings,
                      time.monotonic() - started, tokens.total)
    colour = options.output_format == "text" and out.isatty() and "NO_COLOR" not in env
    text = render_findings(options.output_format, summary, colour)
    if text:
        print(text, file=out)
    if options.fix:
        _fix(root, findings, reviewable, err)
    print(summary.line(), file=err)
    threshold = SEVERITIES.index(options.fail_on)
    return 1 if any(SEVERITIES.index(f.severity) >= threshold for f in findings) else 0


class TokenCounter:
    """An event sink that adds up the tokens of every request, from any thread."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Usage):
            with self._lock:
                self.total += event.prompt_tokens + event.completion_tokens


def _review(config: Config, root: Path, changes: list[FileChange], options: ReviewOptions,
            tokens: TokenCounter, err: TextIO, context: ContextProvider | None) -> list[Finding]:
    deadline = time.monotonic() + options.timeout
    config = config.replace(approval="read-only", request_timeout=min(config.request_timeout, options.timeout))
    runtime = open_runtime(config, root, tokens, deny_all, "read-only", tools=review_tools())
    paths = [c.path for c in changes]
    extra = context(paths) if context else ""
    system = render("review", workspace=str(root),
                    repo_context=f"\nThe repository map, focused on the changed files and their callers:\n\n{extra}"
                    if extra else "")
    chunks = split(changes, options.chunk_tokens)
    try:
        results = run_all([_chunk_task(runtime, system, chunk, options.target, tokens) for chunk in chunks],
                          options.jobs, deadline, options.timeout)
    finally:
        runtime.close()
    for chunk, (_, status) in zip(chunks, results):
        if status == "step_limit":
            print(f"heron review: warning: the review of {', '.join(chunk.paths)} stopped at the step "
                  "limit (max_steps); its findings so far are kept", file=err)
    return [f for found, _ in results for f in found]


def _chunk_task(runtime: Runtime, system: str, chunk: Chunk, target: Target,
                tokens: TokenCounter) -> Callable[[], tuple[list[Finding], str]]:
    def task() -> tuple[list[Finding], str]:
        ctx = ToolContext(runtime.workspace, state={SCOPE_KEY: chunk.scope})
        dispatcher = Dispatcher(review_tools(), Policy(mode="read-only"), deny_all, ctx)
        loop = Loop(runtime.model, dispatcher, system, tokens, max_steps=runtime.config.max_steps,
                    context_window=runtime.config.context_window)
        try:
            outcome = loop.run(render("review_diff", what=target.describe(), files=", ".join(chunk.paths),
                                      diff=chunk.text))
            return list(ctx.state.get(FINDINGS_KEY, [])), outcome.status
        finally:
            ctx.close()

    return task


def run_all(tasks: list[Callable[[], T]], jobs: int, deadline: float, timeout: float) -> list[T]:
    """Run the tasks on `jobs` threads; the first failure is raised, and so is the deadline.

    The threads are daemons: at the deadline they are left behind, and the process can exit
    without waiting for a request the server is still working on.
    """
    pending: queue.SimpleQueue[tuple[int, Callable[[], T]]] = queue.SimpleQueue()
    for item in enumerate(tasks):
        pending.put(item)
    results: dict[int, T] = {}
    errors: list[BaseException] = []
    changed = threading.Condition()

    def worker() -> None:
        while not errors:
            try:
                index, task = pending.get_nowait()
            except queue.Empty:
                return
            try:
                value = task()
            except BaseException as e:  # handed to the main thread, which raises it
                with changed:
                    errors.append(e)
                    changed.notify_all()
                return
            with changed:
                results[index] = value
                changed.notify_all()

    for _ in range(max(1, min(jobs, len(tasks)))):
        threading.Thread(target=worker, daemon=True).start()
    with changed:
        done = changed.wait_for(lambda: errors or len(results) == len(tasks),
                                timeout=max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    if not done:
        raise ReviewTimedOut(f"the review ran past --timeout {timeout:g} s")
    return [results[i] for i in range(len(tasks))]


def _fix(root: Path, findings: list[Finding], changes: list[FileChange], err: TextIO) -> None:
    results = apply_fixes(root, findings, {c.path: c.new_text for c in changes})
    for r in results:
        verdict = "fixed" if r.applied else f"not fixed ({r.note})"
        print(f"heron review: {verdict}: {r.finding.file}:{r.finding.line} {r.finding.message}", file=err)
    if any(r.applied for r in results):
        print("heron review: the fixes are in the working tree, not staged: look at them with "
              "`git diff`, then `git add` them", file=err)
