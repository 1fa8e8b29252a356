"""What an approval shows: for an edit, the diff it would make, worked out before it runs."""

from __future__ import annotations

import json
from pathlib import Path

from agent.interfaces import ApprovalRequest
from tools.base import ToolError
from tools.files import read_text, unified_diff
from tools.workspace import resolve


def approval_preview(workspace: Path, request: ApprovalRequest) -> str:
    """The diff of a proposed write_file or edit_file; otherwise the dispatcher's own preview."""
    if request.tool not in ("write_file", "edit_file"):
        return request.preview
    try:
        args = json.loads(request.preview)
        path = resolve(workspace, args["path"])
        before = read_text(path, args["path"]) if path.exists() else ""
        if request.tool == "write_file":
            after = args["content"]
        else:
            count = -1 if args.get("replace_all") else 1
            after = before.replace(args["old"], args["new"], count)
    except (json.JSONDecodeError, KeyError, TypeError, ToolError):
        return request.preview  # a long or odd call: show its arguments as they are
    return unified_diff(args["path"], before, after) or "(no change)"
