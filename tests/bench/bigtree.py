"""A source tree of over 100,000 files in several languages, for the repo map at scale.

Releases of real projects side by side, one directory each: git tags of local mirrors
(`/work/.mirror/<owner>+<name>`, fetched once; Python, Go, Rust, TypeScript) and Django's release
sdists from PyPI. Built once into the ignored tests/bench/.work/bigtree as a git repository of one
commit; `CHECKOUT` is a second commit that puts one release of prometheus in place of another,
touching about 1,000 files, for the refresh after a checkout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.bench.benchdata import MIRRORS, WORK, sdist_tree

TREE = WORK / "bigtree"
CHECKOUT = "checkout-1000"
# repository: the tags laid side by side (each about 500-2,500 source files)
SNAPSHOTS = {
    "sympy/sympy": ["sympy-0.7.6", "sympy-1.0", "sympy-1.1", "sympy-1.2", "sympy-1.3", "sympy-1.4", "sympy-1.5", "sympy-1.6",
                    "sympy-1.7", "sympy-1.8", "sympy-1.9", "sympy-1.10", "sympy-1.11", "sympy-1.12", "sympy-1.13.3"],
    "pylint-dev/pylint": ["v2.17.7", "v3.0.0", "v3.1.0", "v3.2.0", "v3.3.0", "v3.3.9", "v4.0.0"],
    "sphinx-doc/sphinx": ["v7.2.0", "v7.4.0", "v8.0.0", "v8.2.0", "v9.0.0"],
    "hashicorp/terraform": ["v1.8.0", "v1.9.0", "v1.10.0", "v1.11.0", "v1.12.0", "v1.13.0", "v1.14.0", "v1.15.0"],
    "prometheus/prometheus": ["v2.45.0", "v2.50.0", "v2.55.0", "v3.0.0", "v3.4.0", "v3.8.0", "v3.14.0"],
    "rust-lang/cargo": ["0.70.0", "0.75.0", "0.80.0", "0.85.0", "0.90.0", "0.95.0", "0.99.0"],
    "tokio-rs/tokio": ["tokio-1.20.0", "tokio-1.30.0", "tokio-1.38.0", "tokio-1.45.0"],
    "vuejs/core": ["v3.2.0", "v3.3.0", "v3.4.0", "v3.5.0", "v3.5.41"],
}
DJANGO = ["2.2", "3.0", "3.1", "3.2", "4.0", "4.1", "4.2", "5.0", "5.1", "5.2"]
# the checkout: prometheus 3.8.0's directory becomes 3.14.0 (1,027 files of Go, TypeScript, YAML…)
CHECKOUT_REPO, CHECKOUT_FROM, CHECKOUT_TO = "prometheus/prometheus", "v3.8.0", "v3.14.0"


def git(*args: str, cwd: Path = TREE) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _archive(repo: str, tag: str, into: Path) -> None:
    mirror = MIRRORS / repo.replace("/", "+") / "repo"
    if not mirror.is_dir():
        raise SystemExit(f"no mirror of {repo} in {MIRRORS}: fetch it once (github:{repo})")
    into.mkdir(parents=True)
    archive = subprocess.Popen(["git", "--git-dir", str(mirror), "archive", tag, "--", ".",
                                *(f":(exclude,literal){path}" for path in _missing(mirror, tag))],
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(into)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"git archive {repo} {tag} failed")


def _missing(mirror: Path, tag: str) -> list[str]:
    """Files of the tag whose blobs the mirror lacks (its snapshot leaves out some large data)."""
    listed = subprocess.run(["git", "--git-dir", str(mirror), "ls-tree", "-r", tag], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    blobs = [(line.split()[2], line.partition("\t")[2]) for line in listed if line.split()[1] == "blob"]
    checked = subprocess.run(["git", "--git-dir", str(mirror), "cat-file", "--batch-check"], check=True,
                             input="\n".join(b for b, _ in blobs) + "\n", capture_output=True, text=True)
    return [path for (_, path), line in zip(blobs, checked.stdout.splitlines()) if line.endswith(" missing")]


def build() -> Path:
    """The tree, built once; its HEAD is the main commit, `CHECKOUT` the branch of the checkout."""
    if (TREE / ".git").is_dir() and git("branch", "--list", CHECKOUT).strip():
        return TREE
    shutil.rmtree(TREE, ignore_errors=True)
    for repo, tags in SNAPSHOTS.items():
        for tag in tags:
            _archive(repo, tag, TREE / repo.split("/")[1] / tag)
    for version in DJANGO:
        shutil.copytree(sdist_tree("Django", version), TREE / "django" / version)
    for attributes in TREE.glob("**/.gitattributes"):
        attributes.unlink()  # they ask git to re-encode some files, which it then fails to do
    git("init", "-q", "-b", "main")
    (TREE / ".git" / "info" / "exclude").write_text(".aider*\n")  # aider's cache, beside heron's run
    # the projects' own ignore files stay in force, as they would in a monorepo
    git("add", "-A", ".")
    git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "releases side by side")
    git("checkout", "-q", "-b", CHECKOUT)
    moved = TREE / CHECKOUT_REPO.split("/")[1] / CHECKOUT_FROM
    shutil.rmtree(moved)
    _archive(CHECKOUT_REPO, CHECKOUT_TO, moved)
    for attributes in moved.glob("**/.gitattributes"):
        attributes.unlink()
    git("add", "-A", ".")
    git("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "sympy moves on a release")
    git("checkout", "-q", "main")
    return TREE


if __name__ == "__main__":
    tree = build()
    print(tree)
    from agent.repomap.languages import language_of

    listed = git("ls-files").splitlines()
    print(len(listed), "files,", sum(1 for p in listed if language_of(p)), "source files;",
          git("diff", "--shortstat", "main", CHECKOUT).strip())
