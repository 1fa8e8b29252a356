"""Shared set-up of the benchmarks: sources, aider-chat's venv and checkouts, under an ignored
work directory (tests/bench/.work), fetched once and reused."""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
AIDER_VERSION = "0.86.2"
MIRRORS = Path("/work/.mirror")


def sdist_tree(name: str) -> Path:
    """The newest sdist of a PyPI project, unpacked (`pip download --no-binary :all:`)."""
    sdists = WORK / "sdists"
    found = sorted(sdists.glob(f"{name}-*.tar.gz"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        name, "-d", str(sdists)], check=True)
        found = sorted(sdists.glob(f"{name}-*.tar.gz"))
    archive = found[-1]
    tree = WORK / "src" / archive.name.removesuffix(".tar.gz")
    if not tree.is_dir():
        with tarfile.open(archive) as tar:
            tar.extractall(WORK / "src", filter="data")
    return tree


def aider_python() -> Path:
    """aider-chat in its own venv, so its pins never touch heron's environment."""
    venv = WORK / "aider-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"aider-chat=={AIDER_VERSION}"], check=True)
    return python


def checkout(repo: str, commit: str) -> Path | None:
    """A work tree of `repo` (owner/name) at `commit`, from a local mirror; None when there is none.

    One clone per repository, switched from commit to commit, so only changed files differ.
    """
    mirror = MIRRORS / repo.replace("/", "+") / "repo"
    if not mirror.is_dir():
        return None
    tree = WORK / "checkouts" / repo.replace("/", "+")
    if not tree.is_dir():
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(mirror), str(tree)], check=True)
    done = subprocess.run(["git", "-C", str(tree), "checkout", "-q", "-f", commit], capture_output=True)
    if done.returncode != 0:
        return None
    # aider's tag cache stays, as heron's does (it lives outside the tree)
    subprocess.run(["git", "-C", str(tree), "clean", "-q", "-f", "-d", "-x", "-e", ".aider.tags.cache.v4"], check=True)
    return tree
