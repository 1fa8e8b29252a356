"""What an approval shows: the command of a shell call, or the diff an edit would make, worked out
before it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.edits import textfile
from agent.sandbox.workspace import resolve
from tools.base import Tool, ToolError
from tools.files import EditFileArgs, replace_in, unified_diff

ARGUMENTS_CHARS = 4000


def approval_preview(workspace: Path, tool: Tool, arguments: dict[str, Any]) -> str:
    """The command, the diff of a proposed write_file or edit_file, or else the arguments."""
    if tool.kind == "shell":
        return str(arguments.get("command", ""))
    shown = json.dumps(arguments, indent=2, ensure_ascii=False)[:ARGUMENTS_CHARS]
    if tool.name not in ("write_file", "edit_file"):
        return shown
    try:
        path = resolve(workspace, arguments["path"])
        before = textfile.load(path, arguments["path"])[0] if path.exists() else textfile.new_file("")
        if tool.name == "write_file":
            after = before.with_text(arguments["content"])
        else:
            after = replace_in(before, EditFileArgs.model_validate(arguments))[0]
    except (KeyError, TypeError, ValidationError, ToolError):
        return shown  # an odd call: show its arguments as they are
    return unified_diff(arguments["path"], before.text, after.text) or "(no change)"
