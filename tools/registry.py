"""The tools heron offers, registered explicitly in one list."""

from __future__ import annotations

from tools.base import Tool
from tools.files import edit_file, read_file, write_file
from tools.git import git_diff, git_log, git_show, git_status
from tools.images import view_image
from tools.outputs import read_output
from tools.patch import apply_patch
from tools.plan import finish, todo
from tools.review import report_finding
from tools.search import find_files, grep
from tools.shell import shell
from tools.symbols import symbols

DEFAULT_TOOLS: tuple[Tool, ...] = (
    todo, read_file, write_file, edit_file, apply_patch, grep, find_files, symbols, shell, read_output,
    finish, git_status, git_diff, git_log, git_show, view_image,
)

# What a reviewing model may call: every read-only tool, the finding reporter, and finish.
REVIEW_TOOLS: tuple[Tool, ...] = (*(t for t in DEFAULT_TOOLS if t.kind == "read"), report_finding, finish)
