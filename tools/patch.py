"""apply_patch: unified diffs and `*** Begin Patch` envelopes, each hunk placed by its context.

Parsing and placing hunks is the edit engine's (agent/edits/patch.py). Every file is checked and
computed before any is written, so a patch applies whole or not at all.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from agent.edits import beneath, textfile
from agent.edits.patch import Change, apply_hunks, parse
from agent.edits.textfile import TextFile
from agent.sandbox.workspace import relative, resolve
from tools import syntax
from tools.base import ToolContext, ToolError, ToolResult, tool
from tools.files import commit_edit, forget, load_for_edit, unified_diff


class PatchArgs(BaseModel):
    patch: str = Field(description="a unified diff (---/+++/@@ hunks) or a *** Begin Patch envelope")


@tool(kind="edit", subject=lambda a: ", ".join(c.path for c in _subjects(a.patch)))
def apply_patch(args: PatchArgs, ctx: ToolContext) -> ToolResult:
    """Apply a patch to files you have read: a unified diff, or an envelope like

    *** Begin Patch
    *** Update File: src/app.py
    @@ def main():
    -    run(1)
    +    run(2)
    *** Add File: NOTES.md
    +new file text
    *** Delete File: old.txt
    *** End Patch

    (`*** Move to: new/path` after an Update line renames the file). Hunks are found by their
    context lines, so line numbers may be off; a hunk whose context fits several places is refused.
    """
    changes = parse(args.patch)
    planned: list[Planned] = []
    for change in changes:
        earlier = next((p for p in planned if p[0].path == change.path), None)
        if earlier is None:
            planned.append(_plan(ctx, change))
        else:  # a second Update section of the file applies to what the first one left
            planned[planned.index(earlier)] = (*earlier[:4], _updated(earlier[4], change))
    outputs, diffs, problems = [], [], []
    for change, source, target, before, after in planned:
        if change.kind == "delete":
            diffs.append(unified_diff(change.path, before.text, ""))
            ctx.before_change(source)
            beneath.unlink(ctx.workspace.resolve(), source, change.path)
            forget(ctx, source)
            outputs.append(f"deleted {change.path}")
            continue
        result = commit_edit(ctx, target, before, after)
        diffs.append(result.data["diff"])
        problems += [f"{relative(ctx.workspace, target)} {p}" for p in result.data.get("syntax_errors", [])]
        if target != source:
            ctx.before_change(source)
            beneath.unlink(ctx.workspace.resolve(), source, change.path)
            forget(ctx, source)
            outputs.append(f"moved {change.path} to {change.move_to}")
        else:
            outputs.append(f"{'added' if before is None else 'updated'} {change.path}")
    diff = "".join(diffs)
    text = f"Applied the patch: {', '.join(outputs)}.\n{diff}"
    if problems:
        text += "\n" + syntax.describe(problems)
    return ToolResult(text, data={"diff": diff, "syntax_errors": problems} if problems else {"diff": diff})


Planned = tuple[Change, Path, Path, TextFile | None, TextFile | None]


def _plan(ctx: ToolContext, change: Change) -> Planned:
    """Check one change and compute the file it leaves, without writing anything."""
    source = resolve(ctx.workspace, change.path, write=True)
    target = resolve(ctx.workspace, change.move_to, write=True) if change.move_to else source
    if change.kind == "add":
        if source.exists():
            raise ToolError(f"{change.path} already exists; change it with an Update File section, "
                            "or rewrite it with write_file, instead of adding it")
        lines = [line for hunk in change.hunks for line in hunk.new]
        return change, source, source, None, textfile.new_file("".join(s + "\n" for s in lines))
    if not source.is_file():
        raise ToolError(f"{change.path} does not exist; add it with an Add File section (or /dev/null diff)")
    before = load_for_edit(ctx, source, change.path)
    if change.kind == "delete":
        return change, source, source, before, None
    if target != source and target.exists():
        raise ToolError(f"cannot move {change.path} to {change.move_to}: that file exists, and a move "
                        "never overwrites one; move to another path, or edit that file instead")
    return change, source, target, before, _updated(before, change)


def _updated(file: TextFile | None, change: Change) -> TextFile:
    """The file after an Update section; one that changes nothing (and moves nothing) is a mistake."""
    assert file is not None  # parse() lets only Update sections repeat
    after = file.with_text(apply_hunks(file.text, change))
    if after.text == file.text and not change.move_to:
        raise ToolError(f"{change.path}: the Update File section changes nothing; give the lines to "
                        "remove with '-' and the lines to add with '+'")
    return after


def _subjects(patch: str) -> list[Change]:
    try:
        return parse(patch)
    except ToolError:
        return []
