"""read_file, write_file, edit_file: the model's file tools."""

from __future__ import annotations

import difflib
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field

from tools.base import ToolContext, ToolError, ToolResult, tool
from tools.workspace import relative, resolve

MAX_READ_LINES = 2000
MAX_LINE_CHARS = 2000


class ReadFileArgs(BaseModel):
    path: str = Field(description="file path, relative to the workspace root")
    offset: int = Field(1, ge=1, description="first line to read (1-based)")
    limit: int = Field(MAX_READ_LINES, ge=1, description="how many lines to read at most")


@tool(kind="read", subject=lambda a: a.path)
def read_file(args: ReadFileArgs, ctx: ToolContext) -> ToolResult:
    """Read a text file. Each line is shown as `<number>\\t<text>`; use offset and limit for long files."""
    path = resolve(ctx.workspace, args.path)
    if path.is_dir():
        raise ToolError(f"{args.path} is a directory; use find_files or shell `ls` to list it")
    text = read_text(path, args.path)
    lines = text.splitlines()
    start = args.offset - 1
    if lines and start >= len(lines):
        raise ToolError(f"{args.path} has {len(lines)} lines; offset {args.offset} is past the end")
    shown = lines[start : start + args.limit]
    width = len(str(start + len(shown)))
    body = "\n".join(
        f"{n:>{width}}\t{_clip(line)}" for n, line in enumerate(shown, start=args.offset)
    )
    rest = len(lines) - start - len(shown)
    if rest > 0:
        body += f"\n... {rest} more lines; read on with offset={start + len(shown) + 1}"
    if not lines:
        body = "(empty file)"
    return ToolResult(body)


class WriteFileArgs(BaseModel):
    path: str = Field(description="file path, relative to the workspace root")
    content: str = Field(description="the whole new content of the file")


@tool(kind="edit", subject=lambda a: a.path)
def write_file(args: WriteFileArgs, ctx: ToolContext) -> ToolResult:
    """Create a file or replace its whole content. Prefer edit_file for small changes to big files."""
    path = resolve(ctx.workspace, args.path)
    if path.is_dir():
        raise ToolError(f"{args.path} is a directory")
    before = read_text(path, args.path) if path.exists() else ""
    ctx.before_change(path)
    write_atomic(path, args.content)
    diff = unified_diff(relative(ctx.workspace, path), before, args.content)
    verb = "Updated" if before else "Created"
    return ToolResult(f"{verb} {args.path} ({len(args.content.splitlines())} lines).", data={"diff": diff})


class EditFileArgs(BaseModel):
    path: str = Field(description="file path, relative to the workspace root")
    old: str = Field(description="the exact text to replace, with enough context to be unique")
    new: str = Field(description="the text to put in its place")
    replace_all: bool = Field(False, description="replace every occurrence instead of exactly one")


@tool(kind="edit", subject=lambda a: a.path)
def edit_file(args: EditFileArgs, ctx: ToolContext) -> ToolResult:
    """Replace `old` with `new` in a file. `old` must match exactly once unless replace_all is true."""
    path = resolve(ctx.workspace, args.path)
    if not path.is_file():
        raise ToolError(f"{args.path} does not exist; use write_file to create it")
    if not args.old:
        raise ToolError("old is empty; to create or rewrite a whole file use write_file")
    text = read_text(path, args.path)
    count = text.count(args.old)
    if count == 0:
        raise ToolError(f"old text not found in {args.path}; read the file and copy the text exactly")
    if count > 1 and not args.replace_all:
        lines = _match_lines(text, args.old)
        raise ToolError(
            f"old text matches {count} places in {args.path} (lines {', '.join(map(str, lines))}); "
            "add surrounding lines to make it unique, or set replace_all"
        )
    updated = text.replace(args.old, args.new) if args.replace_all else text.replace(args.old, args.new, 1)
    ctx.before_change(path)
    write_atomic(path, updated)
    diff = unified_diff(relative(ctx.workspace, path), text, updated)
    return ToolResult(diff or "No change: old and new are the same.", data={"diff": diff})


def read_text(path: Path, shown: str) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ToolError(f"{shown} does not exist") from None
    except OSError as e:
        raise ToolError(f"{shown}: cannot read: {e.strerror}") from None
    if b"\0" in data[:8192]:
        raise ToolError(f"{shown} is a binary file")
    return data.decode("utf-8", errors="replace")


def write_atomic(path: Path, content: str) -> None:
    """Write through a temporary file and rename, so an interrupt never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".heron")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(content)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def unified_diff(name: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    )


def _match_lines(text: str, needle: str) -> list[int]:
    lines, start = [], 0
    while (i := text.find(needle, start)) != -1:
        lines.append(text.count("\n", 0, i) + 1)
        start = i + 1
    return lines


def _clip(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return line[:MAX_LINE_CHARS] + f" ... ({len(line) - MAX_LINE_CHARS} more characters)"
