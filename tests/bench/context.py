"""Benchmark: the context over a scripted 200-turn session with large tool outputs.

    python tests/bench/context.py [--turns 200] [--window 262144]

Runs the real loop, tools and session recording against the scripted fake server and prints:
- harness time per model turn, excluding the model (the time inside the model client: request
  serialization, HTTP, the server) and the tools' own run time: the loop, token counts, output
  shortening, session recording, compaction checks (target: median < 20 ms);
- the tokens a prefix-caching server would re-process per request: the part of the serialized
  messages after the longest prefix shared with the request before, against the tokens that
  request newly added (target: only the new suffix, except right after a compaction);
- peak memory (maximum resident set of the whole process, fake server included).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.config import Config  # noqa: E402
from agent.context.transcript import Transcript  # noqa: E402
from agent.core.build import Role, open_session  # noqa: E402
from agent.events import Compacted, Event, ToolFinished, ToolStarted  # noqa: E402
from agent.interfaces import Answer  # noqa: E402
from agent.model.client import Turn  # noqa: E402
from agent.model.tokens import count_tokens  # noqa: E402
from prompts import render  # noqa: E402
from tests.conftest import make_repo  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply  # noqa: E402

STEPS_PER_USER_TURN = 20
SUMMARY = Reply(text="## Task\nBenchmark.\n## Plan and state\nReading files.\n## Files\nbig*.py")


class SummarizingServer(FakeOpenAIServer):
    """The scripted server, answering each compaction request with a summary, wherever it falls."""

    def _next_reply(self, body: dict[str, Any]) -> Reply | None:
        if body["messages"][-1].get("content") == render("compact"):
            with self.lock:
                self.requests.append({"path": "/v1/chat/completions", "body": body})
            return SUMMARY
        return super()._next_reply(body)


class TimedModel:
    """A ModelClient that remembers when each request started and ended."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.spans: list[tuple[float, float]] = []

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], emit: Any) -> Turn:
        start = time.perf_counter()
        try:
            return self.model.complete(messages, tools, emit)
        finally:
            self.spans.append((start, time.perf_counter()))


def script(turns: int) -> list[Reply]:
    replies = []
    for n in range(turns):
        if (n + 1) % STEPS_PER_USER_TURN == 0:
            replies.append(Reply(text=f"Done with part {n // STEPS_PER_USER_TURN}."))
        elif n % 3 == 0:
            replies.append(tool_reply(call("shell", command=f"seq {n} {n + 30000}")))
        elif n % 3 == 1:
            replies.append(tool_reply(call("read_file", path=f"big{n % 7}.py")))
        else:
            replies.append(Reply(reasoning="Check the middle of the last long output. " * 20,
                                 tool_calls=[call("grep_like", pattern="x")]))  # a tool error
    return replies


def reprocessed(requests: list[dict[str, Any]]) -> list[tuple[int, int | None]]:
    """For each request after the first: (tokens after the prefix shared with the one before,
    tokens of the messages it appended), the second None when it does not extend the one before."""
    out: list[tuple[int, int | None]] = []
    for before, after in zip(requests, requests[1:]):
        a, b = json.dumps(before["messages"]), json.dumps(after["messages"])
        appended = after["messages"][len(before["messages"]):]
        new = count_tokens(json.dumps(appended)) if b.startswith(a[:-1]) else None
        out.append((count_tokens(b[_common_prefix(a, b):]), new))
    return out


def _common_prefix(a: str, b: str) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:  # binary search on slices: fast for long strings
        mid = (low + high + 1) // 2
        if a[:mid] == b[:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--window", type=int, default=262_144)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="heron-bench-"))
    repo = work / "repo"
    make_repo(repo, {f"big{n}.py": "".join(f"def f_{n}_{i}(x):\n    return x + {i}\n" for i in range(1500))
                     for n in range(7)})
    server = SummarizingServer(chunk_size=4096).start()
    server.script(*script(args.turns))
    tool_spans: list[tuple[float, float]] = []
    started: dict[str, float] = {}
    compactions: list[Compacted] = []

    def emit(event: Event) -> None:
        if isinstance(event, ToolStarted):
            started[event.call_id] = time.perf_counter()
        elif isinstance(event, ToolFinished):
            tool_spans.append((started.pop(event.call_id), time.perf_counter()))
        elif isinstance(event, Compacted):
            compactions.append(event)

    config = Config(base_url=server.base_url, max_retries=0, approval="full-auto",
                    context_window=args.window, max_steps=args.turns + 1)
    session = Transcript.create(repo, "benchmark", root=work / "sessions")
    rt = open_session(config, repo, emit, Role(answer=Answer.NO), transcript=session)
    timed = TimedModel(rt.loop.model)
    rt.loop.model = timed  # a benchmark's probe: it times the model calls from inside
    began = time.perf_counter()
    for part in range(-(-args.turns // STEPS_PER_USER_TURN)):
        rt.turn(f"Part {part}: read the big files and check the numbers.", fresh_budget=False)
    total = time.perf_counter() - began
    rt.close()
    session.close()
    server.stop()

    harness = []
    for (_, end), (start, _) in zip(timed.spans, timed.spans[1:]):
        tools = sum(min(e, start) - max(s, end) for s, e in tool_spans if s < start and e > end)
        harness.append((start - end - tools) * 1000)
    requests = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")]
    pairs = reprocessed(requests)
    extending = [(r, a) for r, a in pairs if a is not None]
    rewrites = [(n, r) for n, (r, a) in enumerate(pairs, start=2) if a is None]
    beyond = [n for n, (r, a) in enumerate(pairs, start=2) if a is not None and r > a]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"context benchmark: {args.turns} model turns, {len(requests)} requests, window {args.window}")
    print(f"harness per turn, excluding model and tools: median {statistics.median(harness):.2f} ms, "
          f"p95 {sorted(harness)[int(len(harness) * 0.95)]:.2f} ms, max {max(harness):.2f} ms "
          f"(target: median < 20 ms; median / target = {statistics.median(harness) / 20:.2f})")
    print(f"{len(extending)} requests extend the one before: tokens to re-process median "
          f"{statistics.median(r for r, _ in extending):.0f} vs new suffix median "
          f"{statistics.median(a for _, a in extending):.0f}; more than the new suffix: {len(beyond)}")
    print(f"{len(rewrites)} requests rewrite history ({len(compactions)} compactions: the summary request, "
          f"then the compacted one): re-processed tokens {[r for _, r in rewrites]}")
    print(f"tokens re-processed over the session: {sum(r for r, _ in pairs)}; "
          f"without a prefix cache: {sum(count_tokens(json.dumps(r['messages'])) for r in requests[1:])}")
    for c in compactions:
        print(f"  compaction ({c.reason}): {c.messages_dropped} messages, {c.tokens_before} -> {c.tokens_after} tokens")
    print(f"final context: {rt.loop.context.used} tokens; session file {session.path.stat().st_size / 1e6:.1f} MB")
    print(f"peak memory (max RSS): {peak_mb:.0f} MB; wall time {total:.1f} s")


if __name__ == "__main__":
    main()
