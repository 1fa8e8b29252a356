"""The repository heron works in: finding it, what state it is in, and the model's read-only git tools.

Committing, checkpoints and undo are the harness's (agent/vcs/checkpoints.py, agent/vcs/commit.py); the
model only reads: git_status, git_diff, git_log, git_show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import git
from pydantic import BaseModel, Field

from agent.errors import UsageError
from tools.base import ToolContext, ToolError, ToolResult, tool

MAX_OUTPUT_CHARS = 30000
# Git reads a file below this size whole into memory to hash and deflate it; above, it streams it.
# Its default (512 MiB) lets one big untracked file cost heron's checkpoint that much memory.
BIG_FILE_THRESHOLD = "32m"
# A submodule's new commits are shown, but git is not run inside it to look for changes there:
# that run reads the submodule's config, which a sandboxed command may have written.
NO_SUBMODULE_RUNS = "--ignore-submodules=dirty"


def open_repo(workspace: Path) -> git.Repo | None:
    """The repository holding `workspace`, or None when there is none. A bare one cannot be worked in."""
    try:
        repo = git.Repo(workspace, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if repo.bare or _inside_git_dir(workspace, repo):
        raise UsageError(
            f"{workspace} is a bare repository (no working tree); clone it or run "
            "`git worktree add DIR` and point --repo at that directory"
        )
    repo.git.update_environment(**_config_env({"core.bigFileThreshold": BIG_FILE_THRESHOLD}))
    return repo


def _config_env(settings: dict[str, str]) -> dict[str, str]:
    """`settings` as GIT_CONFIG_* variables for every git command heron runs, after any the user set."""
    first = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    env = {"GIT_CONFIG_COUNT": str(first + len(settings))}
    for n, (key, value) in enumerate(settings.items(), start=first):
        env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"] = key, value
    return env


def _inside_git_dir(workspace: Path, repo: git.Repo) -> bool:
    git_dir = Path(repo.git_dir).resolve()
    where = workspace.resolve()
    return where == git_dir or git_dir in where.parents


@dataclass(frozen=True)
class RepoState:
    """What limits heron's git work: each field is a sentence for the user, or empty."""

    detached: str
    operation: str  # a merge, rebase, cherry-pick or revert in progress
    submodules: str

    def warnings(self) -> list[str]:
        return [text for text in (self.operation, self.submodules) if text]


# Marker files git keeps in its directory while an operation is half done.
OPERATIONS = (
    ("MERGE_HEAD", "a merge"),
    ("rebase-merge", "a rebase"),
    ("rebase-apply", "a rebase or `git am`"),
    ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("REVERT_HEAD", "a revert"),
)


def repo_state(repo: git.Repo) -> RepoState:
    git_dir = Path(repo.git_dir)
    operation = next((name for marker, name in OPERATIONS if (git_dir / marker).exists()), "")
    detached = ""
    if repo.head.is_detached:
        detached = f"HEAD is detached at {repo.head.commit.hexsha[:10]}"
    names = [m.path for m in _submodules(repo)]
    return RepoState(
        detached=detached,
        operation=(f"{operation} is in progress in {repo.working_tree_dir}: heron's changes will "
                   "mix with its resolution; finish or abort it first to keep them apart")
        if operation else "",
        submodules=(f"changes inside submodules ({', '.join(names)}) are not checkpointed; "
                    "undo will not restore them") if names else "",
    )


def _submodules(repo: git.Repo) -> list[git.Submodule]:
    try:
        return list(repo.submodules)
    except (git.GitCommandError, ValueError, KeyError):
        return []


# -- the model's read-only tools ---------------------------------------------------------------


class GitStatusArgs(BaseModel):
    pass


@tool(kind="read")
def git_status(args: GitStatusArgs, ctx: ToolContext) -> ToolResult:
    """Show the branch and which files are modified, staged or untracked (`git status --short --branch`)."""
    return ToolResult(_git(ctx, "status", "--short", "--branch", NO_SUBMODULE_RUNS) or "(clean)")


class GitDiffArgs(BaseModel):
    staged: bool = Field(False, description="show what is staged instead of unstaged changes")
    path: str | None = Field(None, description="limit the diff to this file or directory")


@tool(kind="read")
def git_diff(args: GitDiffArgs, ctx: ToolContext) -> ToolResult:
    """Show uncommitted changes as a unified diff: unstaged by default, or staged ones."""
    argv = ["diff", "--no-color", "--no-ext-diff", NO_SUBMODULE_RUNS]
    if args.staged:
        argv.append("--cached")
    if args.path:
        argv += ["--", args.path]
    return ToolResult(_git(ctx, *argv) or "(no changes)")


class GitLogArgs(BaseModel):
    n: int = Field(10, ge=1, le=200, description="how many commits to show")
    path: str | None = Field(None, description="only commits touching this file or directory")


@tool(kind="read")
def git_log(args: GitLogArgs, ctx: ToolContext) -> ToolResult:
    """Show recent commits: hash, date, author and subject, newest first."""
    argv = ["log", f"-n{args.n}", "--no-color", "--date=short", "--format=%h %ad %an  %s"]
    if args.path:
        argv += ["--", args.path]
    return ToolResult(_git(ctx, *argv) or "(no commits)")


class GitShowArgs(BaseModel):
    rev: str = Field(description="a commit, tag or `REV:path`, e.g. HEAD~2 or main:src/app.py")


@tool(kind="read")
def git_show(args: GitShowArgs, ctx: ToolContext) -> ToolResult:
    """Show a commit with its diff, or a file as it was at a revision (`REV:path`)."""
    if args.rev.startswith("-"):
        raise ToolError("rev must be a revision, not an option")
    return ToolResult(_git(ctx, "show", "--no-color", "--no-ext-diff", args.rev, "--"))


def _git(ctx: ToolContext, *argv: str) -> str:
    try:
        repo = open_repo(ctx.workspace)
    except UsageError as e:
        raise ToolError(str(e)) from None
    if repo is None:
        raise ToolError("the workspace is not a git repository")
    try:
        out = git.Git(ctx.workspace).execute(["git", "-c", "core.quotepath=off", *argv],
                                             strip_newline_in_stdout=False)
    except git.GitCommandError as e:
        raise ToolError(f"git {argv[0]} failed: {git_error(e)}") from None
    if len(out) > MAX_OUTPUT_CHARS:
        out = out[:MAX_OUTPUT_CHARS] + f"\n... [{len(out) - MAX_OUTPUT_CHARS} characters cut; narrow it with path]"
    return out.rstrip("\n")


def git_error(error: git.GitCommandError) -> str:
    """git's own message from a failed command, without GitPython's wrapping."""
    text = error.stderr.strip() if isinstance(error.stderr, str) else ""
    if text.startswith("stderr: '") and text.endswith("'"):
        text = text[len("stderr: '"):-1]
    return text.strip() or f"git exited with {error.status}"
