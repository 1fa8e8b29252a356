"""Resolving the paths a model names to real paths inside the workspace."""

from __future__ import annotations

import os
from pathlib import Path

from agent.errors import ToolError
from agent.sandbox.bubblewrap import PROTECTED_PATHS


def resolve(workspace: Path, path: str, write: bool = False) -> Path:
    """The real path `path` names, refusing anything that leads outside the workspace, and for a
    write, the protected paths the sandbox also keeps read-only (.git/hooks, .git/config, rc files).

    Real paths are compared, so a symlinked component cannot lead outside. A hardlink cannot
    either: writes replace the file by rename (files.write_atomic), never write through it.
    """
    if not path or not path.strip():
        raise ToolError("path is empty: give a path relative to the workspace root")
    root = workspace.resolve()
    candidate = Path(os.path.expanduser(path))
    if not candidate.is_absolute():
        candidate = root / candidate
    real = candidate.resolve()
    if real != root and root not in real.parents:
        raise ToolError(
            f"{path}: outside the workspace ({root}); use a path inside it, relative to its root"
        )
    if write:
        inside = real.relative_to(root)
        for protected in PROTECTED_PATHS:
            if inside == Path(protected) or Path(protected) in inside.parents:
                raise ToolError(f"{path}: protected ({protected} could run code outside the "
                                "sandbox); heron does not change it")
    return real


def relative(workspace: Path, path: Path) -> str:
    try:
        return str(path.relative_to(workspace.resolve()))
    except ValueError:
        return str(path)
