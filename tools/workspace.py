"""Resolving the paths a model names to real paths inside the workspace."""

from __future__ import annotations

import os
from pathlib import Path

from tools.base import ToolError


def resolve(workspace: Path, path: str) -> Path:
    """The real path `path` names, refusing anything that leads outside the workspace.

    Real paths are compared, so a symlinked component cannot lead outside.
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
    return real


def relative(workspace: Path, path: Path) -> str:
    try:
        return str(path.relative_to(workspace.resolve()))
    except ValueError:
        return str(path)
