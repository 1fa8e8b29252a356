"""Resolving the paths a model names to real paths inside the workspace, and which it may change."""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from agent.errors import ToolError
from agent.sandbox import gitmeta
from agent.sandbox.walk import is_git_dir

# Top-level workspace entries that tools on the host run or load on their own when the user works
# there (direnv, editors' tasks and settings, rc files of a shell started there). Read-only to
# the sandbox, created or not, and refused to the file tools. A Makefile or a test suite is not on
# the list: running those is the user's explicit act, and editing them is ordinary work.
HOST_EXECUTED = (
    ".envrc",
    ".vscode",
    ".idea",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
)
# Linux's limits: a whole path, and one name in it.
PATH_MAX, NAME_MAX = 4096, 255
GIT_INSTRUCTIONS = "git reads it as instructions; only git's data (objects, refs, logs, index, HEAD...) may change"


def check_path_text(path: str) -> None:
    """Refuse what no filesystem path can be: NUL bytes, undecodable text, over-long names."""
    if "\0" in path:
        raise ToolError("the path contains a NUL byte; give a plain path relative to the workspace root")
    try:
        encoded = os.fsencode(path)
    except UnicodeEncodeError:
        raise ToolError("the path is not valid text (an unpaired surrogate); give a plain path") from None
    if len(encoded) >= PATH_MAX or any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        raise ToolError(f"the path is too long (at most {PATH_MAX} bytes, {NAME_MAX} a name)")


def resolve(workspace: Path, path: str, write: bool = False) -> Path:
    """The real path `path` names, refusing anything that leads outside the workspace, and for a
    write, what `protected` refuses.

    Real paths are compared, so a symlinked component cannot lead outside; the file tools then
    open the real path component by component without following links
    (agent/edits/beneath.py), so a link swapped in after this check is refused, not followed.
    """
    if not path or not path.strip():
        raise ToolError("path is empty: give a path relative to the workspace root")
    check_path_text(path)
    root = workspace.resolve()
    candidate = Path(os.path.expanduser(path))
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        real = candidate.resolve()
    except (OSError, RuntimeError) as e:  # a link loop, or a path changing underneath
        raise ToolError(f"{path}: cannot be followed ({e}); a symlink there leads in a circle, "
                        "or the path changed underneath") from None
    if real != root and root not in real.parents:
        raise ToolError(
            f"{path}: outside the workspace ({root}); use a path inside it, relative to its root"
        )
    if write and (why := protected(real.relative_to(root)) or in_git_dir(root, real)):
        raise ToolError(f"{path}: protected ({why}); heron does not change it")
    return real


def protected(inside: PurePath) -> str:
    """Why a workspace path (relative to its root) may not be changed, or "" when it may."""
    parts = inside.parts
    if not parts:
        return "the workspace root itself"
    if parts[0] in HOST_EXECUTED:
        return f"{parts[0]} is run or loaded by tools outside the sandbox"
    # Every repository's, nested ones' too: a .git file (a pointer to a git directory) included.
    if any(part == ".git" and not gitmeta.writable(PurePath(*parts[i + 1:])) for i, part in enumerate(parts)):
        return GIT_INSTRUCTIONS
    return ""


def in_git_dir(root: Path, real: Path) -> str:
    """Why `real` may not be changed as part of a git directory not named .git (a bare one's
    shape, which git takes for a repository when a command runs in it), or ""."""
    for folder in real.parents:
        if folder == root or root not in folder.parents:
            return ""
        if is_git_dir(folder) and not gitmeta.writable(real.relative_to(folder)):
            return GIT_INSTRUCTIONS
    return ""


def relative(workspace: Path, path: Path) -> str:
    try:
        return str(path.relative_to(workspace.resolve()))
    except ValueError:
        return str(path)
