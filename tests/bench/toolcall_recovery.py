"""How much recovering a call written as text costs, against parsing the same call sent natively.

Anchor: `json.loads` of the native arguments (what every turn with a native call pays). Measured:
`recover_calls` on the same call written as Qwen3 XML and as Hermes JSON, and on a long answer
that holds no call (what every answer pays once tools are offered); then the XML call streamed in
4-character pieces through the client's TurnReader (its prose gate included) and recovered, and a prose answer the same way, against the same pieces through
the ThinkSplitter alone (all the client did with streamed text before recovery existed). Sizes grow to show that the cost stays linear.
Run: python tests/bench/toolcall_recovery.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.model.client import ThinkSplitter, TurnReader  # noqa: E402
from agent.model.toolcalls import recover_calls  # noqa: E402
from tools.registry import DEFAULT_TOOLS  # noqa: E402

TOOLS = [t.schema() for t in DEFAULT_TOOLS]
RUNS = 7


def median_seconds(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def source(kilobytes: int) -> str:
    line = 'def f(x, y):  # a "quoted", {braced} line, with commas, and <tags>\n'
    return line * (kilobytes * 1024 // len(line))


def main() -> None:
    print(f"{'case':<34}{'size':>8}{'anchor ms':>12}{'recover ms':>12}{'ratio':>8}")
    for kb in (10, 100, 1000):
        content = source(kb)
        arguments = {"path": "big.py", "content": content}
        native = json.dumps(arguments)
        anchor = median_seconds(lambda: json.loads(native))
        xml = ("<tool_call>\n<function=write_file>\n<parameter=path>\nbig.py\n</parameter>\n"
               f"<parameter=content>\n{content}\n</parameter>\n</function>\n</tool_call>")
        hermes = f'<tool_call>\n{json.dumps({"name": "write_file", "arguments": arguments})}\n</tool_call>'
        prose = "Here is what I found.\n\n```python\n" + content + "```\n"
        for name, text in (("write_file as Qwen3 XML", xml), ("write_file as Hermes JSON", hermes),
                           ("answer with no call", prose)):
            found = recover_calls(text, TOOLS)
            assert bool(found.calls) == (name != "answer with no call")
            took = median_seconds(lambda: recover_calls(text, TOOLS))
            print(f"{name:<34}{kb:>6}KB{anchor * 1000:>12.3f}{took * 1000:>12.3f}{took / anchor:>8.1f}")
        for name, text in (("streamed XML, 4-char pieces", xml), ("streamed prose, 4-char pieces", prose)):
            pieces = [text[i:i + 4] for i in range(0, len(text), 4)]
            anchor = median_seconds(lambda: split_only(pieces))
            took = median_seconds(lambda: stream_and_recover(pieces))
            print(f"{name:<34}{kb:>6}KB{anchor * 1000:>12.3f}{took * 1000:>12.3f}{took / anchor:>8.1f}")


def split_only(pieces: list[str]) -> str:
    splitter = ThinkSplitter()
    kept = [part for piece in pieces for _, part in splitter.feed(piece)]
    return "".join(kept + [part for _, part in splitter.flush()])


def stream_and_recover(pieces: list[str]) -> object:
    reader = TurnReader(lambda event: None, tools=TOOLS)
    for piece in pieces:
        reader.content(piece)
    reader.flush()
    return recover_calls(reader.turn.text, TOOLS)


if __name__ == "__main__":
    main()
