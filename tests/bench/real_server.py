"""Benchmark: heron's prefix discipline against a real llama-server, over a 10-turn session.

    python -m tests.real_server.setup        # once: builds llama-server, fetches the weights
    python tests/bench/real_server.py [--turns 10] [--context 8192] [--own-template]

Starts llama-server on 127.0.0.1 with Qwen2.5-Coder-0.5B (CPU; the ChatML tool template, or the
model's own with --own-template), then runs heron's own runtime — loop, model client, tools, repo
map — through a scripted session in a small repository: a user task every two model turns, greedy
sampling, short answers. Printed per model turn: the prompt tokens, the tokens the server served
from its prompt cache (`prompt_tokens_details.cached_tokens`, the same counter as
`timings.cache_n`), their share, the seconds to the first piece of the answer, and the decoding
speed. Target: after the first turn, at least 90% of every prompt served from the cache.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.config import Config  # noqa: E402
from agent.core.build import Role, open_session  # noqa: E402
from agent.events import AssistantTurn, Compacted, Event, StreamRestarted, ToolStarted, Usage  # noqa: E402
from agent.interfaces import Answer  # noqa: E402
from tests.conftest import make_repo  # noqa: E402
from tests.real_server import setup  # noqa: E402
from tests.real_server.conftest import TOOL_TEMPLATE, start_server, stop  # noqa: E402

TARGET = 0.90
STEPS_PER_TASK = 2
# Each names its tool: the small model answers in prose when left to choose.
TASKS = [
    "Read the file calc.py with the read_file tool.",
    "List the Python files with the find_files tool.",
    "Read the file test_calc.py with the read_file tool.",
    "Search for the word subtract with the grep tool.",
    "In calc.py, use the edit_file tool to replace `a - b` in add with `a + b`.",
    "Read the file calc.py again with the read_file tool.",
    "Create NOTES.md with the write_file tool, one line saying add was fixed.",
    "Call the finish tool with a one-line summary of the work.",
]
FILES = {
    "calc.py": "def add(a, b):\n    return a - b\n\n\ndef subtract(a, b):\n    return a - b\n",
    "test_calc.py": "from calc import add, subtract\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
                    "def test_subtract():\n    assert subtract(5, 3) == 2\n",
    "README.md": "# calc\n\nTwo small functions and their tests.\n",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10, help="model turns in the session")
    parser.add_argument("--context", type=int, default=8192, help="llama-server's window (-c)")
    parser.add_argument("--max-output", type=int, default=256, help="tokens per answer at most")
    parser.add_argument("--own-template", action="store_true", help="the model's own template (calls as text)")
    args = parser.parse_args()
    if not setup.ready():
        print("llama-server or the weights are not cached: run `python -m tests.real_server.setup`")
        return 2

    work = Path(tempfile.mkdtemp(prefix="heron-bench-real-"))
    repo = work / "calc"
    make_repo(repo, FILES)
    started = time.perf_counter()
    server = start_server(setup.weights_path(setup.QWEN_CODER), work / "server.log",
                          None if args.own_template else TOOL_TEMPLATE, context=args.context)
    print(f"llama-server up in {time.perf_counter() - started:.1f} s (window {args.context}, "
          f"{'own' if args.own_template else 'ChatML tool'} template); log: {server.log}")
    usages: list[Usage] = []
    calls: list[list[str]] = [[]]
    notes: list[str] = []

    steps = 0

    def emit(event: Event) -> None:
        nonlocal steps
        steps += isinstance(event, AssistantTurn)
        if isinstance(event, Usage):
            usages.append(event)
            calls.append([])
        elif isinstance(event, ToolStarted):
            calls[-1].append(event.name)
        elif isinstance(event, (Compacted, StreamRestarted)):
            notes.append(f"turn {len(usages) + 1}: {type(event).__name__} {event}")

    config = Config(base_url=server.base_url, max_retries=0, temperature=0.0, max_output_tokens=args.max_output,
                    max_steps=STEPS_PER_TASK, approval="auto-edit")
    try:
        rt = open_session(config, repo, emit, Role(answer=Answer.NO))
        began = time.perf_counter()
        for task in _tasks():
            if steps >= args.turns:
                break
            rt.turn(task)
        total = time.perf_counter() - began
        rt.close()
    finally:
        stop(server.process)
    return _report(usages, calls, notes, total)


def _tasks():
    while True:
        yield from TASKS


def _report(usages: list[Usage], calls: list[list[str]], notes: list[str], total: float) -> int:
    print(f"{'turn':>4} {'prompt':>7} {'cached':>7} {'cached%':>8} {'new':>5} {'TTFT s':>7} {'out':>4} "
          f"{'tok/s':>6}  calls")
    shares = []
    for n, (u, names) in enumerate(zip(usages, calls[1:]), start=1):
        cached = u.cached_tokens or 0
        share = cached / u.prompt_tokens if u.prompt_tokens else 0.0
        if n > 1:
            shares.append(share)
        ttft = f"{u.first_token_seconds:.2f}" if u.first_token_seconds is not None else "-"
        speed = f"{u.tokens_per_second:.1f}" if u.tokens_per_second is not None else "-"
        print(f"{n:>4} {u.prompt_tokens:>7} {cached:>7} {share:>7.1%} {u.prompt_tokens - cached:>5} {ttft:>7} "
              f"{u.completion_tokens:>4} {speed:>6}  {', '.join(names) or '(answer)'}")
    for note in notes:
        print(note)
    if not shares:
        print("fewer than two turns: nothing to compare")
        return 1
    ttfts = [u.first_token_seconds for u in usages[1:] if u.first_token_seconds is not None]
    speeds = [u.tokens_per_second for u in usages if u.tokens_per_second is not None]
    print(f"after turn 1: cached share min {min(shares):.1%}, median {statistics.median(shares):.1%} "
          f"(target >= {TARGET:.0%}: {'met' if min(shares) >= TARGET else 'NOT met'}); "
          f"first turn TTFT {usages[0].first_token_seconds or 0:.2f} s, later TTFT median "
          f"{statistics.median(ttfts) if ttfts else 0:.2f} s; decode median "
          f"{statistics.median(speeds) if speeds else 0:.1f} tok/s; {len(usages)} turns in {total:.0f} s")
    return 0 if min(shares) >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
