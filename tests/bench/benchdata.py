"""Shared set-up of the benchmarks: sources, aider-chat's venv and checkouts, under an ignored
work directory (tests/bench/.work), fetched once and reused."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tarfile
import urllib.request
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
AIDER_VERSION = "0.86.2"
MIRRORS = Path("/work/.mirror")
SIMPLE_INDEX = "https://pypi.org/simple"


def sdist_tree(name: str, version: str | None = None) -> Path:
    """An sdist of a PyPI project, unpacked: the newest (`pip download --no-binary :all:`, once),
    or `version`."""
    sdists = WORK / "sdists"
    if version:
        archive = _pinned_sdist(name, version, sdists)
    else:
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


def _pinned_sdist(name: str, version: str, sdists: Path) -> Path:
    """The sdist of one release, from the package index's simple page: `pip download` builds an
    sdist's metadata, and old ones (scikit-learn 0.19) no longer build."""
    wanted = f"{name}-{version}.tar.gz".lower().replace("_", "-")
    for archive in sdists.glob("*.tar.gz"):
        if archive.name.lower().replace("_", "-") == wanted:
            return archive
    page = urllib.request.urlopen(f"{SIMPLE_INDEX}/{name}/", timeout=60).read().decode()
    for url, filename in re.findall(r'href="([^"]+)"[^>]*>([^<]+)</a>', page):
        if filename.lower().replace("_", "-") == wanted:
            data = urllib.request.urlopen(url, timeout=600).read()
            if hashlib.sha256(data).hexdigest() != url.partition("#sha256=")[2]:
                raise SystemExit(f"{filename}: its sha256 is not the index's")
            sdists.mkdir(parents=True, exist_ok=True)
            (sdists / filename).write_bytes(data)
            return sdists / filename
    raise SystemExit(f"no sdist {wanted} on {SIMPLE_INDEX}")


def heron_python() -> Path:
    """heron installed from this tree into a venv of its own, as a user has it: bytecode compiled
    by pip, no editable finder and none of this machine's own start-up hooks, as aider's venv
    has them. Installed again at every call, since the tree may have changed."""
    venv = WORK / "heron-venv"
    python = venv / "bin" / "python"
    root = Path(__file__).resolve().parents[2]
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(root)], check=True)
    else:  # dependencies added since the venv was made, then heron as the tree has it now
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(root)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(root)],
                       check=True)
    return python


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
