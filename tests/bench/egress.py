"""Egress benchmark: what redaction costs per request on a long, append-only history.

    python tests/bench/egress.py [--tokens N] [--turns N]

Builds a history of about N tokens (default 200,000) of tool results (source files of Python's
standard library, with a few secrets planted in them) and assistant turns, then times the egress
on it: the first request (everything scanned, as after a resume), and each following turn, which
appends one assistant turn and one tool result. The anchor, run side by side, is the same work
done without the per-message cache: every request scanned whole.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.core.egress import Egress  # noqa: E402
from agent.model.tokens import count_tokens  # noqa: E402

KEY = b"bench" * 8
SECRETS = ('AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
           "token = ghp_1234567890abcdefghijABCDEFGHIJ123456", "STRIPE=sk_live_4eC39HqLyjWDarjtT1zdp7dc")


def outputs() -> list[str]:
    """Tool results: the standard library's modules, some with a secret in them."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    texts = [f.read_text(encoding="utf-8", errors="replace")[:12_000] for f in files]
    return [t + f"\n{SECRETS[i % len(SECRETS)]}\n" if i % 7 == 0 else t for i, t in enumerate(texts)]


def history(tokens: int, texts: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are heron."},
                                      {"role": "user", "content": "Fix the bug."}]
    used, n = 0, 0
    while used < tokens:
        text = texts[n % len(texts)]
        messages += turn(n, text)
        used += count_tokens(text) + 20
        n += 1
    return messages


def turn(n: int, text: str) -> list[dict[str, Any]]:
    call = {"id": f"c{n}", "type": "function", "function": {"name": "read_file", "arguments": f'{{"path": "m{n}.py"}}'}}
    return [{"role": "assistant", "content": f"Reading module {n}.", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"c{n}", "content": text}]


def timed(door: Egress, messages: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    door(messages, [])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--turns", type=int, default=10)
    args = parser.parse_args()
    texts = outputs()
    messages = history(args.tokens, texts)
    chars = sum(len(m["content"]) for m in messages)
    print(f"history: {len(messages)} messages, ~{args.tokens:,} tokens, {chars:,} characters")

    cached = Egress(lambda: (), KEY)
    first = timed(cached, messages)
    per_turn, anchor = [], []
    for n in range(args.turns):
        messages = messages + turn(10_000 + n, texts[n] + f"\n# turn {n}\n")  # new text, not a cached one
        per_turn.append(timed(cached, messages))
        anchor.append(timed(Egress(lambda: (), KEY), messages))  # a fresh egress scans everything
    new_chars = statistics.mean(len(texts[n]) for n in range(args.turns))
    print(f"first request (whole history scanned, as on resume): {first * 1000:8.1f} ms")
    print(f"each later turn, cached per message:                 {statistics.median(per_turn) * 1000:8.1f} ms "
          f"(median of {args.turns}; ~{new_chars:,.0f} new characters a turn)")
    print(f"anchor: each turn scanned whole, no cache:           {statistics.median(anchor) * 1000:8.1f} ms")
    print(f"ratio anchor / cached: {statistics.median(anchor) / statistics.median(per_turn):.0f}x")


if __name__ == "__main__":
    main()
