"""What the input box offers: `/` commands at the start, `@path` files of the repository anywhere."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from agent.images import is_image_path

MAX_FILES = 50_000
MAX_OPTIONS = 12
AT_PATH = re.compile(r"(?:^|\s)@([^\s@]*)$")
SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".mypy_cache", ".pytest_cache"}


@dataclass(frozen=True)
class Completion:
    """Replace the `replace` characters before the cursor with one of `options` (value, help)."""

    replace: int
    options: list[tuple[str, str]]


@dataclass
class Completer:
    workspace: Path
    commands: dict[str, str]  # name -> one line of help
    files: list[str] = field(default_factory=list)

    def refresh_files(self) -> None:
        self.files = list_files(self.workspace)

    def complete(self, before_cursor: str) -> Completion | None:
        """Options for the text before the cursor, or None when nothing applies."""
        if before_cursor.startswith("/") and not any(c.isspace() for c in before_cursor):
            typed = before_cursor[1:].lower()
            options = [(f"/{name} ", help) for name, help in sorted(self.commands.items())
                       if name.startswith(typed)]
            return Completion(len(before_cursor), options) if options else None
        match = AT_PATH.search(before_cursor)
        if match is None:
            return None
        query = match.group(1)
        options = [(f"@{path} ", "image, sent with the message" if is_image_path(path) else "")
                   for path in rank_paths(self.files, query)]
        return Completion(len(query) + 1, options) if options else None


def rank_paths(paths: list[str], query: str) -> list[str]:
    """Paths whose letters contain the query in order; names that start with it first."""
    q = query.lower()
    scored = []
    for path in paths:
        low = path.lower()
        if not _subsequence(q, low):
            continue
        name = low.rsplit("/", 1)[-1]
        rank = 0 if name.startswith(q) else 1 if q in name else 2 if q in low else 3
        scored.append((rank, len(path), path))
    scored.sort()
    return [p for _, _, p in scored[:MAX_OPTIONS]]


def _subsequence(needle: str, haystack: str) -> bool:
    it = iter(haystack)
    return all(ch in it for ch in needle)


def list_files(workspace: Path) -> list[str]:
    """The repository's files as git sees them (honouring .gitignore), or a bounded walk."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=workspace, capture_output=True, text=True, timeout=10,
        )
        if proc.returncode == 0:
            # Split no further than is kept: all 180,000 paths of a large tree held Python's lock
            # for 22 ms, which the screen waited on.
            return [path for path in proc.stdout.split("\n", MAX_FILES)[:MAX_FILES] if path]
    except (OSError, subprocess.TimeoutExpired):
        pass
    found: list[str] = []
    for root, dirs, files in os.walk(workspace):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")]
        rel = os.path.relpath(root, workspace)
        found.extend(f if rel == "." else f"{rel}/{f}" for f in files)
        if len(found) >= MAX_FILES:
            break
    return sorted(found[:MAX_FILES])
