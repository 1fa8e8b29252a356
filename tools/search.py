"""grep and find_files: ripgrep when it is installed, else a Python walk with the same results.

Both ways skip what ripgrep skips by default here: hidden files and directories, binary files,
symlinks, and whatever the .gitignore files (at any depth) and .git/info/exclude ignore. Results
come sorted by path and line and are capped, with a count of what was left out.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pathspec
from pydantic import BaseModel, Field

from agent.sandbox.workspace import relative, resolve
from agent.secrets import is_secret_file
from tools.base import ToolContext, ToolError, ToolResult, tool

MAX_MATCHES = 100
MAX_FILES = 200
MAX_LINE_CHARS = 300
RG_TIMEOUT = 60
# ripgrep's defaults made explicit and narrowed to what the Python walk does too.
RG_FLAGS = ["--no-config", "--no-ignore-global", "--no-ignore-dot", "--no-require-git"]


@dataclass(frozen=True, order=True)
class Hit:
    path: str  # relative to the workspace
    line: int
    text: str
    match: bool


class GrepArgs(BaseModel):
    pattern: str = Field(description="a regular expression (or plain text with literal=true)")
    path: str = Field("", description="a file or directory to search, relative to the workspace root (default: all)")
    glob: str = Field("", description="only files matching this glob, e.g. *.py or src/**/*.ts")
    context: int = Field(0, ge=0, le=20, description="lines of context to show around each match")
    ignore_case: bool = Field(False, description="match upper and lower case alike")
    literal: bool = Field(False, description="treat pattern as plain text, not a regular expression")


@tool(kind="read", subject=lambda a: a.path)
def grep(args: GrepArgs, ctx: ToolContext) -> ToolResult:
    """Search file contents for a pattern; shows `path:line:text` for matches and `path-line-text` for context."""
    root = ctx.workspace
    target = resolve(root, args.path or ".")
    if not target.exists():
        raise ToolError(f"{args.path} does not exist")
    pattern = re.escape(args.pattern) if args.literal else args.pattern
    try:
        regex = re.compile(pattern, re.IGNORECASE if args.ignore_case else 0)
    except re.error as e:
        raise ToolError(f"bad regular expression {args.pattern!r}: {e}; set literal=true to search plain text") from None
    if shutil.which("rg"):
        hits = rg_grep(root, target, pattern, args.context, args.ignore_case)
    else:
        hits = python_grep(root, target, regex, args.context)
    wanted = _glob_filter(args.glob)
    hits = sorted(h for h in hits if wanted(h.path))
    # Secret files are named, never quoted: their lines are the secrets.
    patterns = ctx.secret_files
    secret = sorted({h.path for h in hits if is_secret_file(h.path, patterns)})
    shown = render_hits([h for h in hits if h.path not in secret])
    if secret:
        shown += (f"\n[matches in secret files not shown: {', '.join(secret)}; "
                  "read_file shows such a file with its secrets replaced]")
    return ToolResult(shown)


class FindFilesArgs(BaseModel):
    glob: str = Field(description="a glob such as *.py, test_*.py or src/**/*.ts (without a slash it matches at any depth)")
    path: str = Field("", description="a directory to look in, relative to the workspace root (default: all)")


@tool(kind="read", subject=lambda a: a.glob)
def find_files(args: FindFilesArgs, ctx: ToolContext) -> ToolResult:
    """List the files whose path matches a glob, skipping what .gitignore ignores."""
    root = ctx.workspace
    target = resolve(root, args.path or ".")
    if not target.is_dir():
        raise ToolError(f"{args.path} is not a directory")
    files = rg_files(root, target) if shutil.which("rg") else list(walk_files(root, target))
    matched = sorted(filter(_glob_filter(args.glob), files))
    if not matched:
        return ToolResult(f"No files match {args.glob}.")
    shown = "\n".join(matched[:MAX_FILES])
    if len(matched) > MAX_FILES:
        shown += f"\n[{len(matched) - MAX_FILES} more files not shown; narrow the glob or path]"
    return ToolResult(shown)


def render_hits(hits: list[Hit]) -> str:
    """grep's output, cut after MAX_MATCHES matches with a count of the rest."""
    matches = [h for h in hits if h.match]
    if not matches:
        return "No matches."
    out: list[str] = []
    shown = 0
    previous: Hit | None = None
    for hit in hits:
        if hit.match:
            if shown == MAX_MATCHES:
                break
            shown += 1
        if previous and (previous.path != hit.path or previous.line + 1 != hit.line):
            out.append("--")
        sep = ":" if hit.match else "-"
        out.append(f"{hit.path}{sep}{hit.line}{sep}{_clip(hit.text)}")
        previous = hit
    if rest := matches[shown:]:
        files = len({h.path for h in rest} - {previous.path if previous else ""})
        where = f" in {files} more files" if files else ""
        out.append(f"[{len(rest)} more matches{where} not shown; narrow the pattern, path or glob]")
    return "\n".join(out)


# --- ripgrep ------------------------------------------------------------------------------------


def rg_grep(root: Path, target: Path, pattern: str, context: int, ignore_case: bool) -> list[Hit]:
    argv = ["rg", "--json", "--crlf", *RG_FLAGS, "-C", str(context)]
    if ignore_case:
        argv.append("-i")
    lines = _run_rg([*argv, "-e", pattern, *_rg_paths(root, target)], root)
    hits = []
    for line in lines:
        event = json.loads(line)
        if event["type"] not in ("match", "context"):
            continue
        data = event["data"]
        hits.append(Hit(_rg_path(_rg_text(data["path"])), data["line_number"],
                        _rg_text(data["lines"]).rstrip("\r\n"), event["type"] == "match"))
    return hits


def rg_files(root: Path, target: Path) -> list[str]:
    return [_rg_path(p) for p in _run_rg(["rg", "--files", *RG_FLAGS, *_rg_paths(root, target)], root)]


def _run_rg(argv: list[str], root: Path) -> list[str]:
    try:
        proc = subprocess.run(argv, cwd=root, capture_output=True, timeout=RG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ToolError(f"the search took over {RG_TIMEOUT}s; narrow the path or glob") from None
    out = proc.stdout.decode("utf-8", errors="replace")
    if proc.returncode == 2 and not out:
        err = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise ToolError(f"search failed: {err[-1] if err else 'ripgrep exited with status 2'}")
    return out.splitlines()


def _rg_paths(root: Path, target: Path) -> list[str]:
    return [] if target == root.resolve() else ["--", relative(root, target)]


def _rg_text(field: dict[str, str]) -> str:
    if "text" in field:
        return field["text"]
    return base64.b64decode(field["bytes"]).decode("utf-8", errors="replace")


def _rg_path(path: str) -> str:
    return path.removeprefix("./")


# --- the Python fallback --------------------------------------------------------------------------


def python_grep(root: Path, target: Path, regex: re.Pattern[str], context: int) -> list[Hit]:
    hits: list[Hit] = []
    files = [relative(root, target)] if target.is_file() else walk_files(root, target)
    for rel in files:
        try:
            data = (root / rel).read_bytes()
        except OSError:
            continue
        if b"\0" in data:
            continue
        lines = data.decode("utf-8", errors="replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = [s.removesuffix("\r") for s in lines]
        matched = [i for i, s in enumerate(lines) if regex.search(s)]
        shown = sorted({j for i in matched for j in range(max(0, i - context), min(len(lines), i + context + 1))})
        wanted = set(matched)
        hits += [Hit(rel, j + 1, lines[j], j in wanted) for j in shown]
    return hits


def walk_files(root: Path, target: Path) -> Iterator[str]:
    """Files under target (relative to root) that are not hidden, symlinks or git-ignored."""
    ignores = _Ignores(root)
    for dirpath, dirnames, filenames in os.walk(target):
        rel_dir = relative(root, Path(dirpath))
        rel_dir = "" if rel_dir == "." else rel_dir
        ignores.load(rel_dir)
        keep = []
        for name in sorted(dirnames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if not name.startswith(".") and not os.path.islink(os.path.join(dirpath, name)) \
                    and not ignores.ignored(rel, is_dir=True):
                keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if not name.startswith(".") and not os.path.islink(os.path.join(dirpath, name)) \
                    and not ignores.ignored(rel, is_dir=False):
                yield rel


class _Ignores:
    """The .gitignore files of a tree, each applying below its own directory, deepest first."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.specs: dict[str, pathspec.GitIgnoreSpec | None] = {}
        exclude = root / ".git" / "info" / "exclude"
        self.exclude = _spec(exclude) if (root / ".git").is_dir() else None

    def load(self, rel_dir: str) -> None:
        if rel_dir not in self.specs:
            self.specs[rel_dir] = _spec(self.root / rel_dir / ".gitignore")

    def ignored(self, rel: str, is_dir: bool) -> bool:
        parts = rel.split("/")
        for depth in range(len(parts) - 1, -1, -1):
            base = "/".join(parts[:depth])
            self.load(base)
            spec = self.specs[base]
            if spec is None:
                continue
            sub = parts[depth:]
            result = spec.check_file("/".join(sub) + ("/" if is_dir else ""))
            if result.include is not None and not _inherited(spec, sub, result.index):
                return result.include
        if self.exclude is not None:
            return bool(self.exclude.check_file(rel + ("/" if is_dir else "")).include)
        return False


def _inherited(spec: pathspec.GitIgnoreSpec, parts: list[str], index: int | None) -> bool:
    """Whether the pattern matched only because it matches a directory above: ripgrep, like
    git, judges each path by itself, which matters inside an ignored directory searched by name."""
    return any(spec.check_file("/".join(parts[:k]) + "/").index == index for k in range(1, len(parts)))


def _spec(path: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


def _glob_filter(glob: str) -> Callable[[str], bool]:
    """Gitignore-style: `*.py` matches at any depth, `src/*.py` only under src."""
    if not glob:
        return lambda path: True
    return pathspec.GitIgnoreSpec.from_lines([glob]).match_file


def _clip(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return text[:MAX_LINE_CHARS] + f" ... ({len(text) - MAX_LINE_CHARS} more characters)"
