"""Auto-commit when a task completes: the agent's changes only, a message the model writes, hooks run.

Only paths the agent's turns changed are committed, and of those only the ones that held no
uncommitted work of the user's when the session began: the user's changes stay theirs. The commit
goes through `git commit`, so the repository's pre-commit and commit-msg hooks run.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import git

from agent.errors import HeronError, UsageError
from agent.events import Committed, Warning
from agent.interfaces import EventSink
from agent.vcs.checkpoints import GitCheckpoints, first_line
from prompts import render
from tools.git import git_error, open_repo, repo_state

if TYPE_CHECKING:
    from agent.model.client import OpenAIModel

SUBJECT_CHARS = 72
DIFF_CHARS = 20000
TRAILER = "Assisted-by: heron"
CONVENTIONAL = re.compile(r"^(feat|fix|refactor|perf|test|docs|build|ci|chore|style|revert)(\([^)]*\))?!?: \S")


class CommitFailed(HeronError):
    """`git commit` refused (a hook said no): the changes are left in place, uncommitted."""

    exit_code = 1


def check_can_commit(workspace: Path, on_new_branch: bool) -> None:
    """Stop before any work when a commit at the end could not be made (exit 2)."""
    repo = open_repo(workspace)
    if repo is None:
        raise UsageError(f"{workspace} is not a git repository: --commit, --branch and --worktree need one")
    state = repo_state(repo)
    if on_new_branch:
        if not repo.head.is_valid():
            raise UsageError("the repository has no commit yet to start a branch from; commit once first")
        return
    if state.detached:
        raise UsageError(f"{state.detached}: use --branch NAME to commit the result on a new branch")
    if state.operation:
        raise UsageError(f"{state.operation.split(':')[0]}: --commit would mix heron's commit into it; "
                         "finish or abort it first, or use --branch")


def commit_session(checkpoints: GitCheckpoints, model: OpenAIModel, messages: list[dict[str, Any]],
                   tools: list[dict[str, Any]], summary: str, emit: EventSink,
                   worktree: str = "") -> Committed | None:
    """Commit what the agent changed in this session; None when there is nothing to commit."""
    repo = checkpoints.repo
    changed = checkpoints.agent_paths()
    theirs = sorted(checkpoints.user_dirty_paths() & set(changed))
    if theirs:
        emit(Warning("left uncommitted, as they also hold your own uncommitted changes: " + ", ".join(theirs)))
    paths = [p for p in changed if p not in theirs]
    tree = checkpoints.snapshot() if paths else ""
    if nested := _new_submodules(repo, tree, paths):
        emit(Warning("left uncommitted, as heron registers no new submodules (git would run what their "
                     "config says on every `git status`): " + ", ".join(nested)))
        paths = [p for p in paths if p not in nested]
    if not paths:
        emit(Warning("nothing to commit: the agent changed no file that could be committed"))
        return None
    specs = [f":(literal){p}" for p in paths]
    diff = repo.git.diff("--no-color", "--no-ext-diff", checkpoints.chain[0].tree, tree, "--", *specs)
    message = commit_message(model, messages, tools, summary, diff)
    repo.git.add("-A", "--", *specs)
    with tempfile.NamedTemporaryFile("w", prefix="heron-commit-", suffix=".txt", encoding="utf-8") as f:
        f.write(message)
        f.flush()
        try:
            repo.git.commit("-q", "-F", f.name, "--", *specs)
        except git.GitCommandError as e:
            _unstage(repo, specs)
            raise CommitFailed(f"git commit failed, the changes are left uncommitted: {git_error(e)}") from None
    branch = "" if repo.head.is_detached else repo.active_branch.name
    event = Committed(sha=repo.head.commit.hexsha, branch=branch, subject=message.splitlines()[0],
                      worktree=worktree)
    emit(event)
    return event


def _new_submodules(repo: git.Repo, tree: str, paths: list[str]) -> list[str]:
    """Of `paths`, the gitlinks `tree` has and HEAD has not: repositories made in the workspace."""
    def gitlinks(rev: str, of: list[str]) -> set[str]:
        out = repo.git.ls_tree("-z", rev, "--", *(f":(literal){p}" for p in of)) if of else ""
        return {entry.split("\t", 1)[1] for entry in out.split("\0") if entry.startswith("160000 ")}

    found = gitlinks(tree, paths)
    return sorted(found - (gitlinks("HEAD", sorted(found)) if found and repo.head.is_valid() else set()))


def commit_message(model: OpenAIModel, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                   summary: str, diff: str) -> str:
    """Ask the model for the message, on top of the session's history so the server reuses its cached
    prefix; fall back to the task's summary if the answer is unusable."""
    if len(diff) > DIFF_CHARS:
        diff = diff[:DIFF_CHARS] + "\n... (diff cut)"
    messages = [*messages, {"role": "user", "content": render("commit", diff=diff)}]
    try:
        text = model.complete(messages, tools, lambda event: None).text
    except HeronError:
        text = ""
    subject, body = parse_message(text)
    if not subject:
        subject, body = parse_message(summary, default_type="fix")
    trailer = f"{TRAILER} ({model.model})" if model.model else TRAILER
    return "\n\n".join(filter(None, [subject, body, trailer])) + "\n"


def parse_message(text: str, default_type: str = "chore") -> tuple[str, str]:
    """(subject, body) from a model's answer: fences and quotes dropped, the subject conventional
    and at most 72 characters."""
    text = re.sub(r"<think>.*?</think>", "", text, flags=re.S)
    lines = [line.rstrip() for line in text.strip().splitlines() if not line.strip().startswith("```")]
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "", ""
    subject = lines[0].strip().strip("`\"'").removeprefix("Subject:").strip()
    if not CONVENTIONAL.match(subject):
        subject = f"{default_type}: {subject[:1].lower()}{subject[1:]}"
    body = "\n".join(lines[1:]).strip()
    return shorten(subject), body


def shorten(subject: str) -> str:
    subject = first_line(subject, width=10_000).rstrip(".")
    if len(subject) <= SUBJECT_CHARS:
        return subject
    cut = subject[:SUBJECT_CHARS + 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > SUBJECT_CHARS // 2 else subject[:SUBJECT_CHARS]).rstrip(" ,;:")[:SUBJECT_CHARS]


def _unstage(repo: git.Repo, specs: list[str]) -> None:
    if repo.head.is_valid():
        repo.git.reset("-q", "--", *specs)
    else:
        repo.git.rm("-q", "--cached", "--ignore-unmatch", "-r", "--", *specs)
