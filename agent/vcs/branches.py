"""`heron fix --branch` and `--worktree`: the work happens in a new git worktree on a new branch.

The user's checkout is never switched: its branch, index and files stay exactly as they are. With
`--branch` the worktree is temporary and removed once the result is committed on the branch; with
`--worktree` it stays for the user to open.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import git

from agent.errors import UsageError
from tools.git import git_error, open_repo


@dataclass(frozen=True)
class Workplace:
    workspace: Path  # where the agent works: the same subdirectory, inside the new worktree
    branch: str
    worktree: Path
    origin: Path  # the user's checkout
    keep: bool  # --worktree: leave it for the user


def open_workplace(workspace: Path, branch: str, worktree: str | None, issue: str) -> Workplace:
    """A new branch from HEAD, checked out in a new worktree. branch "" picks a name from the issue;
    worktree None means a temporary one, "" a directory beside the repository."""
    repo = open_repo(workspace)
    assert repo is not None and repo.working_tree_dir, "check_can_commit ran first"
    top = Path(repo.working_tree_dir).resolve()
    name = branch or _free_name(repo, "heron/" + slug(issue))
    _check_branch(repo, name)
    if worktree is None:
        path, keep = Path(tempfile.mkdtemp(prefix="heron-fix-")) / top.name, False
    else:
        path, keep = Path(worktree) if worktree else top.parent / f"{top.name}-{slug(name)}", True
        if path.exists():
            raise UsageError(f"--worktree {path}: it already exists; name another directory")
    try:
        repo.git.worktree("add", "-q", "-b", name, str(path), "HEAD")
    except git.GitCommandError as e:
        raise UsageError(f"could not create the worktree {path}: {git_error(e)}") from None
    return Workplace(path.resolve() / workspace.resolve().relative_to(top), name, path.resolve(), top, keep)


def close_workplace(place: Workplace, committed: bool) -> str:
    """Remove a temporary worktree whose work is committed; say where anything left stays."""
    repo = git.Repo(place.worktree)
    if place.keep:
        return f"the worktree is at {place.worktree} (branch {place.branch})"
    if not committed and repo.is_dirty(untracked_files=True):
        return f"nothing was committed; the changes are left in {place.worktree} (branch {place.branch})"
    origin = git.Repo(place.origin)
    origin.git.worktree("remove", "--force", str(place.worktree))
    shutil.rmtree(place.worktree.parent, ignore_errors=True)
    if not committed:
        origin.git.branch("-D", place.branch)
        return f"no changes, so no branch {place.branch} was left"
    return f"the result is committed on branch {place.branch}"


def slug(text: str, width: int = 40) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:width].rstrip("-") or "fix"


def _free_name(repo: git.Repo, name: str) -> str:
    taken = {head.name for head in repo.branches}
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def _check_branch(repo: git.Repo, name: str) -> None:
    try:
        repo.git.check_ref_format("--branch", name)
    except git.GitCommandError:
        raise UsageError(f"--branch {name!r}: not a valid branch name") from None
    if name in {head.name for head in repo.branches}:
        raise UsageError(f"--branch {name}: the branch already exists; name a new one")
