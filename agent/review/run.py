"""Running a review's chunks: one read-only conversation each, on concurrent threads.

Each conversation gets the shared system prompt (with the repository context) and its chunk's
diff; its `report_finding` calls collect findings in its own ToolContext, limited to the chunk's
changed lines. A local server batches the concurrent requests.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Callable, TextIO, TypeVar

from agent.config import Config
from agent.core.build import Runtime, open_runtime
from agent.core.dispatch import Dispatcher, deny_all
from agent.core.loop import Loop
from agent.core.policy import Policy
from agent.errors import ServerError
from agent.events import Event, Usage
from agent.review.chunks import Chunk
from agent.review.diff import Target
from prompts import render
from tools.base import Tool, ToolContext
from tools.findings import Finding
from tools.plan import finish
from tools.registry import DEFAULT_TOOLS
from tools.review import FINDINGS_KEY, SCOPE_KEY, report_finding

T = TypeVar("T")


class ReviewTimedOut(ServerError):
    """The review ran past --timeout."""


def review_tools() -> tuple[Tool, ...]:
    """Every read-only tool heron has, the finding reporter, and finish."""
    return (*(t for t in DEFAULT_TOOLS if t.kind == "read"), report_finding, finish)


class TokenCounter:
    """An event sink that adds up the tokens of every request, from any thread."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Usage):
            with self._lock:
                self.total += event.prompt_tokens + event.completion_tokens


def review_chunks(config: Config, root: Path, chunks: list[Chunk], system: str, target: Target, jobs: int,
                  timeout: float, tokens: TokenCounter, err: TextIO) -> list[Finding]:
    """The findings of every chunk; ServerError when the server fails or `timeout` passes."""
    deadline = time.monotonic() + timeout
    config = config.replace(approval="read-only", request_timeout=min(config.request_timeout, timeout))
    # Probing the server counts against the deadline too: a server that hangs must not hang a commit.
    [runtime] = run_all([lambda: open_runtime(config, root, tokens, deny_all, "read-only", tools=review_tools())],
                        1, deadline, timeout)
    try:
        results = run_all([_chunk_task(runtime, system, chunk, target, tokens) for chunk in chunks],
                          jobs, deadline, timeout)
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
        done = changed.wait_for(lambda: bool(errors) or len(results) == len(tasks),
                                timeout=max(0.0, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    if not done:
        raise ReviewTimedOut(f"the review ran past --timeout {timeout:g} s")
    return [results[i] for i in range(len(tasks))]
