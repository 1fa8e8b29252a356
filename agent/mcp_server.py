"""`heron mcp serve`: heron's repo map, file localization and review offered to other agents over stdio.

Three tools, each what heron does better than the agents that would call it:
  repo_map   the ranked tree-sitter map of the repository for a task, within a token budget
  localize   the files a task is most likely about, best first, with what each defines
  review     `heron review` of the staged change, a commit or a range, as JSON findings

The map is built once per server process and refreshed on each call (only changed files are
read again). A review runs `heron review --format json` as a child process, so it gets the
configured model server, window, policy and redaction exactly as on the command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer

# A failure the calling agent is told about, not a crash (no traceback in the server's log).
from mcp.server.mcpserver.exceptions import ToolError

from agent.errors import UsageError
from agent.repomap import DEFAULT_BUDGET, RepoMap

REVIEW_TIMEOUT = 600


def serve(repo: Path) -> int:
    """Serve on stdin/stdout until the client goes away."""
    if not repo.is_dir():
        raise UsageError(f"{repo}: not a directory")
    server = build_server(repo.resolve())
    server.run("stdio")
    return 0


def build_server(repo: Path) -> MCPServer:
    server = MCPServer("heron", instructions=f"heron's view of the repository at {repo}: a ranked map, "
                                             "the files a task is about, and a review of a change.")
    maps = _Maps(repo)

    @server.tool()
    def repo_map(task: str = "", tokens: int = DEFAULT_BUDGET // 8, focus: list[str] | None = None) -> str:
        """The repository's map ranked for a task: the most relevant files whole, then signatures,
        then names, then paths, within `tokens` tokens. `focus` names files or identifiers in play."""
        if tokens <= 0:
            raise ToolError("tokens must be a positive number")
        return maps.render(task, focus or [], tokens)

    @server.tool()
    def localize(task: str, limit: int = 10) -> str:
        """The files of the repository a task (an issue text, a stack trace) is most likely about,
        best first, as JSON: path, rank, and up to 12 names each file defines."""
        if not task.strip():
            raise ToolError("give the task text to rank the files for")
        return json.dumps(maps.localize(task, max(1, min(limit, 100))), indent=1)

    @server.tool()
    def review(target: str = "staged", rev: str = "", fail_on: str = "blocker") -> str:
        """Review a change with heron's model: target `staged` (the index), `commit` (rev = a commit)
        or `range` (rev = A..B). Returns heron review's JSON: findings with file, line, severity
        (blocker, warning, nit), category and message."""
        return _review(repo, target, rev, fail_on)

    return server


class _Maps:
    """One RepoMap for the server's life; calls come one at a time, but from worker threads."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.lock = threading.Lock()
        self.map: RepoMap | None = None

    def _fresh(self) -> RepoMap:
        if self.map is None:
            self.map = RepoMap(self.repo)
        self.map.refresh()
        return self.map

    def render(self, task: str, focus: list[str], tokens: int) -> str:
        with self.lock:
            return self._fresh().render(task, focus, tokens).text

    def localize(self, task: str, limit: int) -> list[dict[str, Any]]:
        with self.lock:
            repo_map = self._fresh()
            top = repo_map.ranked(task)[:limit]
            repo_map.cache.load_heads(top)  # what they define
        return [{"path": s.path, "rank": i, "defines": [name for name, _ in s.defs[:12]]}
                for i, s in enumerate(top, start=1)]


def _review(repo: Path, target: str, rev: str, fail_on: str) -> str:
    flags = {"staged": ["--staged"], "commit": ["--commit", rev], "range": ["--range", rev]}
    if target not in flags:
        raise ToolError("target is staged, commit or range")
    if target != "staged" and not rev:
        raise ToolError(f"a {target} review needs rev")
    argv = [sys.executable, "-m", "agent", "review", *flags[target], "--format", "json", "--fail-on", fail_on,
            "--repo", str(repo)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=REVIEW_TIMEOUT, stdin=subprocess.DEVNULL)
    if done.returncode not in (0, 1):
        raise ToolError((done.stderr.strip() or f"heron review exited {done.returncode}").splitlines()[-1])
    return done.stdout
