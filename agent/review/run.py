"""Running a review's chunks: one read-only session each, on concurrent threads.

The server is probed once; the diff is then split into chunks that fit the window it reported.
Each chunk's session, built by the one factory with the review's role, gets the shared system
prompt (with the repository context) and its chunk's diff; its `report_finding` calls come out
as events, limited to the chunk's changed lines. A local server batches the concurrent requests.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Callable, Sequence, TextIO, TypeVar

from agent.config import Config, Mode
from agent.context.history import answer_tokens
from agent.core.build import Role, Server, connect, open_session
from agent.errors import ServerError
from agent.events import Event, FindingReported, Status, Usage
from agent.findings import Finding
from agent.interfaces import Answer
from agent.model.tokens import count_tokens
from agent.repomap import RepoMap
from agent.review.chunks import Chunk, split
from agent.review.diff import FileChange, Target
from prompts import render
from tools.registry import REVIEW_TOOLS

T = TypeVar("T")
# Room in each request for the tool schemas and the code the model reads, as a share of what is
# left after the system prompt and the answer: the diff gets the rest.
DIFF_SHARE = 0.5
MIN_CHUNK_TOKENS = 1_000


class ReviewTimedOut(ServerError):
    """The review ran past --timeout."""


class TokenCounter:
    """An event sink that adds up the tokens of every request, from any thread."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Usage):
            with self._lock:
                self.total += event.prompt_tokens + event.completion_tokens


def chunk_budget(requested: int, window: int | None, system: str, config: Config) -> int:
    """Diff tokens per request: at most `requested`, and what the server's window leaves room for."""
    if window is None:
        return requested
    room = window - answer_tokens(config.max_output_tokens, window) - count_tokens(system)
    return max(MIN_CHUNK_TOKENS, min(requested, int(room * DIFF_SHARE)))


def repo_map_context(root: Path, budget: int) -> Callable[[Sequence[str]], str]:
    """The repository map focused on the changed files, which ranks their callers next."""

    def provide(paths: Sequence[str]) -> str:
        repo_map = RepoMap(root, watch=False)
        try:
            return repo_map.render(focus=paths, budget=budget).text
        finally:
            repo_map.close()

    return provide


def review_chunks(config: Config, root: Path, changes: list[FileChange], chunk_tokens: int, system: str,
                  target: Target, jobs: int, timeout: float, tokens: TokenCounter, err: TextIO) -> list[Finding]:
    """The findings of every chunk; ServerError when the server fails or `timeout` passes."""
    deadline = time.monotonic() + timeout
    config = config.replace(approval=Mode.READ_ONLY, request_timeout=min(config.request_timeout, timeout))
    # Probing the server counts against the deadline too: a server that hangs must not hang a commit.
    [server] = run_all([lambda: connect(config, tokens)], 1, deadline, timeout)
    chunks = split(changes, chunk_budget(chunk_tokens, server.endpoint.context_window, system, config))
    results = run_all([_chunk_task(config, root, server, system, chunk, target, tokens) for chunk in chunks],
                      jobs, deadline, timeout)
    for chunk, (_, status) in zip(chunks, results):
        if status == Status.STEP_LIMIT:
            print(f"heron review: warning: the review of {', '.join(chunk.paths)} stopped at the step "
                  "limit (max_steps); its findings so far are kept", file=err)
    return [f for found, _ in results for f in found]


def _chunk_task(config: Config, root: Path, server: Server, system: str, chunk: Chunk, target: Target,
                tokens: TokenCounter) -> Callable[[], tuple[list[Finding], Status]]:
    def task() -> tuple[list[Finding], Status]:
        found: list[Finding] = []

        def sink(event: Event) -> None:
            tokens(event)
            if isinstance(event, FindingReported):
                found.append(event.finding)

        role = Role(tools=REVIEW_TOOLS, default_mode=Mode.READ_ONLY, answer=Answer.NO, system_prompt=system,
                    review_scope=chunk.scope, repo_map=False, instructions=False, checkpoints=False)
        session = open_session(config, root, sink, role, server=server)
        try:
            outcome = session.turn(render("review_diff", what=target.describe(), files=", ".join(chunk.paths),
                                          diff=chunk.text))
            return found, outcome.status
        finally:
            session.close()

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
