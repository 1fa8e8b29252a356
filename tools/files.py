"""read_file, write_file, edit_file: the model's file tools, and what every edit goes through.

Every edit is checked against the read stamps (the model must have read the file, and it must not
have changed on disk since), keeps the file's encoding, byte-order mark, line endings and final
newline, returns its unified diff, and reports the syntax errors it introduced.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from pydantic import BaseModel, Field

from agent.edits import matching as edits
from agent.edits import textfile
from agent.edits.textfile import TextFile
from agent.sandbox.workspace import relative, resolve
from tools import syntax
from tools.base import ToolContext, ToolError, ToolResult, tool

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
    start = args.offset - 1
    window = textfile.window(ctx.workspace.resolve(), path, args.path, start, args.limit)
    remember(ctx, path, window.stamp)
    if window.total and start >= window.total:
        raise ToolError(f"{args.path} has {window.total} lines; offset {args.offset} is past the end")
    shown = window.lines
    width = len(str(start + len(shown)))
    body = "\n".join(
        f"{n:>{width}}\t{_clip(textfile.displayable(line))}" for n, line in enumerate(shown, start=args.offset)
    )
    rest = window.total - start - len(shown)
    if rest > 0:
        body += f"\n... {rest} more lines; read on with offset={start + len(shown) + 1}"
    if not window.total:
        body = "(empty file)"
    return ToolResult(body)


class WriteFileArgs(BaseModel):
    path: str = Field(description="file path, relative to the workspace root")
    content: str = Field(description="the whole new content of the file")


@tool(kind="edit", subject=lambda a: a.path)
def write_file(args: WriteFileArgs, ctx: ToolContext) -> ToolResult:
    """Create a file or replace its whole content. Prefer edit_file for small changes to big files."""
    path = resolve(ctx.workspace, args.path, write=True)
    if path.is_dir():
        raise ToolError(f"{args.path} is a directory")
    if path.exists():
        before = load_for_edit(ctx, path, args.path)
        after = before.with_text(args.content)
        verb = "Updated"
    else:
        before, after, verb = None, textfile.new_file(args.content), "Created"
    result = commit_edit(ctx, path, before, after)
    result.output = f"{verb} {args.path} ({len(after.text.splitlines())} lines).{result.output}"
    return result


class EditFileArgs(BaseModel):
    path: str = Field(description="file path, relative to the workspace root")
    old: str = Field(description="the text to replace, copied from read_file, with enough context to be unique")
    new: str = Field(description="the text to put in its place")
    replace_all: bool = Field(False, description="replace every occurrence instead of exactly one")


@tool(kind="edit", subject=lambda a: a.path)
def edit_file(args: EditFileArgs, ctx: ToolContext) -> ToolResult:
    """Replace `old` with `new` in a file you have read. `old` must match one place unless replace_all is true.

    Small slips in `old` are tolerated (trailing spaces, indentation, typographic quotes, a line of
    `...` for skipped lines); an `old` that fits several places is refused with their line numbers.
    """
    path = resolve(ctx.workspace, args.path, write=True)
    if not path.is_file():
        raise ToolError(f"{args.path} does not exist; use write_file to create it")
    if not args.old:
        raise ToolError("old is empty; to create or rewrite a whole file use write_file")
    before = load_for_edit(ctx, path, args.path)
    after, found = replace_in(before, args)
    if after.text == before.text:
        return ToolResult("No change: old and new are the same.", data={"diff": ""})
    result = commit_edit(ctx, path, before, after)
    where = ", ".join(str(r.line) for r in found.replacements)
    how = "" if found.strategy == "exact" else f" (old matched by the {found.strategy} rule, not exactly)"
    result.output = f"Edited {args.path} at line {where}{how}.{result.output}"
    return result


def replace_in(file: TextFile, args: EditFileArgs) -> tuple[TextFile, edits.Found]:
    """The file with `old` replaced by `new`, matched through the tolerance cascade."""
    # The file's text has "\n" endings whatever its own are; its endings come back on writing.
    old, new = textfile.ENDING.sub("\n", args.old), textfile.ENDING.sub("\n", args.new)
    try:
        found = edits.locate(file.text, old, new, args.replace_all)
    except ToolError as e:
        raise ToolError(f"{args.path}: {e}") from None
    return file.with_text(edits.apply(file.text, found.replacements)), found


def load_for_edit(ctx: ToolContext, path: Path, shown: str) -> TextFile:
    """The file to edit, refused unless the model read it and it has not changed since."""
    file, data = textfile.load(path, shown, ctx.workspace.resolve())
    stamps = ctx.read_stamps
    if path not in stamps:
        raise ToolError(f"refused: you have not read {shown} in this session; read it with read_file before editing it")
    if stamps[path] != textfile.stamp(data):
        raise ToolError(f"refused: {shown} changed on disk since you read it; read it again before editing it")
    return file


def remember(ctx: ToolContext, path: Path, stamp: str) -> None:
    ctx.read_stamps[path] = stamp


def forget(ctx: ToolContext, path: Path) -> None:
    ctx.read_stamps.pop(path, None)


def commit_edit(ctx: ToolContext, path: Path, before: TextFile | None, after: TextFile) -> ToolResult:
    """Write the file, stamp it as read, and describe the change: its diff and any new syntax errors.

    The output starts with a newline so callers can put their own first line in front of it.
    """
    ctx.before_change(path)
    remember(ctx, path, textfile.stamp(textfile.save(path, after, ctx.workspace.resolve())))
    name = relative(ctx.workspace, path)
    old_text = before.text if before else ""
    diff = unified_diff(name, old_text, after.text)
    output = f"\n{diff}" if diff else ""
    data: dict[str, object] = {"diff": diff}
    if found := syntax.introduced(name, old_text, after.text):
        output += "\n" + syntax.describe(found)
        data["syntax_errors"] = [str(p) for p in found]
    return ToolResult(output, data=data)


def unified_diff(name: str, before: str, after: str) -> str:
    return textfile.displayable("".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    ))


def _clip(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return line[:MAX_LINE_CHARS] + f" ... ({len(line) - MAX_LINE_CHARS} more characters)"
