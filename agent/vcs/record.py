"""Which record of turns a workspace gets: git checkpoints in a repository, heron's journal elsewhere."""

from __future__ import annotations

from pathlib import Path

from agent.interfaces import EventSink
from agent.vcs.checkpoints import NOT_A_REPO, Checkpoints, GitCheckpoints, new_session_id
from agent.vcs.journal import Journal
from tools.git import open_repo, repo_state


def open_checkpoints(workspace: Path, emit: EventSink) -> Checkpoints:
    """Checkpoints for a new session: git-backed in a repository, heron's journal elsewhere."""
    repo = open_repo(workspace)
    if repo is None:
        return Journal(workspace, new_session_id(), emit, notes=[NOT_A_REPO])
    return GitCheckpoints(repo, new_session_id(), emit, notes=repo_state(repo).warnings())


def latest_checkpoints(workspace: Path, emit: EventSink) -> Checkpoints | None:
    """The most recent session recorded for this working tree (for `heron undo`), or None."""
    repo = open_repo(workspace)
    if repo is None:
        return Journal.latest(workspace, emit)
    return GitCheckpoints.latest(repo, emit)
