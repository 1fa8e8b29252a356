"""read_output: the parts of a long tool output the prompt showed only as head and tail
(kept whole in the session's OutputStore, tools/output_store.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.base import ToolContext, ToolError, ToolResult, tool

READ_LINES = 200
READ_CHARS = 20_000


class ReadOutputArgs(BaseModel):
    handle: str = Field(description="the handle named where an output was shortened")
    offset: int = Field(1, ge=1, description="first line to show (1-based)")
    limit: int = Field(READ_LINES, ge=1, description="how many lines to show at most")


@tool(kind="meta")
def read_output(args: ReadOutputArgs, ctx: ToolContext) -> ToolResult:
    """Show lines of an earlier tool output that was too long to show whole. Each line is `<number>\\t<text>`."""
    store = ctx.outputs
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
