"""The OutputStore: long tool outputs kept whole, shown to the model as head and tail.

A long output in the prompt costs tokens on every later request, while the model usually needs
its start (the command, the first error) and its end (the summary line). The whole text stays in
the store (and in the session file), and the `read_output` tool (tools/outputs.py) shows any part
of it on request.
"""

from __future__ import annotations

SHORTEN_OVER = 12_000  # characters; shorter outputs are shown whole
HEAD_CHARS = 4_000
TAIL_CHARS = 4_000
LINE_CHARS = 1_000  # a single shown line is clipped to this in the head and tail


class OutputStore:
    """The whole text of every shortened output, by handle (the tool call's id)."""

    def __init__(self) -> None:
        self.outputs: dict[str, str] = {}

    def shown(self, handle: str, text: str) -> str:
        """What the model sees of `text`: all of it, or its head and tail with the handle."""
        if len(text) <= SHORTEN_OVER:
            return text
        self.outputs[handle] = text
        lines = text.splitlines()
        head = _fit(lines, HEAD_CHARS)
        tail = min(_fit(lines[::-1], TAIL_CHARS), len(lines) - head)
        hidden = len(lines) - head - tail
        # With few, very long lines nothing is hidden but the lines are clipped: read from the top.
        offset = head + 1 if hidden else 1
        note = (f"... [shortened: {hidden} of {len(lines)} lines not shown, {len(text)} characters "
                f'in all; read_output(handle="{handle}", offset={offset}) shows the lines whole] ...')
        shown = [_clip(line) for line in lines[:head]] + [note]
        shown += [_clip(line) for line in lines[len(lines) - tail:]]
        return "\n".join(shown)


def _fit(lines: list[str], budget: int) -> int:
    """How many lines from the start fit in `budget` characters; at least one."""
    used = 0
    for n, line in enumerate(lines):
        used += len(line) + 1
        if used > budget:
            return max(n, 1)
    return len(lines)


def _clip(line: str) -> str:
    if len(line) <= LINE_CHARS:
        return line
    return f"{line[:LINE_CHARS]} ... ({len(line) - LINE_CHARS} more characters)"
