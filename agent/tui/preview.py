"""What an approval shows: for an edit, the diff it would make, worked out before it runs."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from agent.edits import textfile
from agent.interfaces import ApprovalRequest
from agent.sandbox.workspace import resolve
from tools.base import ToolError
from tools.files import EditFileArgs, replace_in, unified_diff


def approval_preview(workspace: Path, request: ApprovalRequest) -> str:
    """The diff of a proposed write_file or edit_file; otherwise the dispatcher's own preview."""
    if request.tool not in ("write_file", "edit_file"):
        return request.preview
    try:
        args = json.loads(request.preview)
        path = resolve(workspace, args["path"])
        before = textfile.load(path, args["path"])[0] if path.exists() else textfile.new_file("")
        if request.tool == "write_file":
            after = before.with_text(args["content"])
        else:
            after = replace_in(before, EditFileArgs.model_validate(args))[0]
    except (json.JSONDecodeError, KeyError, TypeError, ValidationError, ToolError):
        return request.preview  # a long or odd call: show its arguments as they are
    return unified_diff(args["path"], before.text, after.text) or "(no change)"
