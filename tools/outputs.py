"""Long tool outputs: kept whole, shown to the model as head and tail, the rest read by handle.

A long output in the prompt costs tokens on every later request, while the model usually needs
its start (the command, the first error) and its end (the summary line). The whole text stays in
the OutputStore (and in the session file), and `read_output` shows any part of it on request.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.base import ToolContext, ToolError, ToolResult, tool

STATE_KEY = "outputs"
SHORTEN_OVER = 12_000  # characters; shorter outputs are shown whole
HEAD_CHARS = 4_000
TAIL_CHARS = 4_000
LINE_CHARS = 1_000  # a single shown line is clipped to this in the head and tail
READ_LINES = 200
READ_CHARS = 20_000


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


class ReadOutputArgs(BaseModel):
    handle: str = Field(description="the handle named where an output was shortened")
    offset: int = Field(1, ge=1, description="first line to show (1-based)")
    limit: int = Field(READ_LINES, ge=1, description="how many lines to show at most")


@tool(kind="meta")
def read_output(args: ReadOutputArgs, ctx: ToolContext) -> ToolResult:
    """Show lines of an earlier tool output that was too long to show whole. Each line is `<number>\\t<text>`."""
    store: OutputStore = ctx.resource(STATE_KEY, OutputStore)
    text = store.outputs.get(args.handle)
    if text is None:
        known = ", ".join(store.outputs) or "none yet"
        raise ToolError(f"no shortened output has the handle '{args.handle}' (handles: {known})")
    lines = text.splitlines()
    if args.offset > len(lines):
        raise ToolError(f"the output has {len(lines)} lines; offset {args.offset} is past the end")
    shown, used, end = [], 0, args.offset - 1
    for n in range(args.offset - 1, min(len(lines), args.offset - 1 + args.limit)):
        line = f"{n + 1}\t{lines[n]}"
        if shown and used + len(line) > READ_CHARS:
            break
        shown.append(line[:READ_CHARS])
        used += len(line) + 1
        end = n + 1
    body = "\n".join(shown)
    if end < len(lines):
        body += f"\n... {len(lines) - end} more lines; read on with offset={end + 1}"
    return ToolResult(body)
