"""Listing through inotify: a turn where nothing changed reuses the last listing, and every kind of
change made since is seen, in git and outside it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.repomap import RepoMap
from agent.repomap.files import FileStat, Lister
from agent.repomap.watch import local_filesystem
from tests.conftest import make_repo, write_files

FILES = {
    "pkg/core/engine.py": "def run():\n    return 1\n",
    "pkg/core/deep/parts.py": "def part():\n    return 2\n",
    "docs/guide.md": "# Guide\n",
    "setup.py": "NAME = 'pkg'\n",
}


def paths(lister: Lister, root: Path) -> set[str]:
    return {f.path for f in lister.list(root)}


def make_tree(root: Path, git: bool) -> None:
    if git:
        make_repo(root, FILES)
    else:
        write_files(root, FILES)


@pytest.mark.parametrize("git", [True, False], ids=["git", "walk"])
def test_nothing_changed_reuses_the_listing_and_every_change_is_seen(tmp_path, git):
    root = tmp_path / "tree"
    make_tree(root, git)
    lister = Lister()
    assert lister.watcher.working
    first = lister.list(root)
    assert {f.path for f in first} == set(FILES) and not lister.unchanged
    assert lister.list(root) is first and lister.unchanged

    engine = root / "pkg/core/engine.py"
    engine.write_text("def run():\n    return 10\n")
    sizes = {f.path: f.size for f in lister.list(root)}
    assert not lister.unchanged and sizes["pkg/core/engine.py"] == engine.stat().st_size
    assert set(lister.touched or ()) == {"pkg/core/engine.py"}  # the one file looked at again
    assert lister.list(root) and lister.unchanged

    replaced = root / "pkg/core/.engine.py.tmp"  # written aside and renamed over, as heron's tools write
    replaced.write_text("def run():\n    return 100\n")
    replaced.replace(engine)
    sizes = {f.path: f.size for f in lister.list(root)}
    assert sizes["pkg/core/engine.py"] == engine.stat().st_size and "pkg/core/.engine.py.tmp" not in sizes
    assert lister.touched == {"pkg/core/engine.py": lister.touched["pkg/core/engine.py"],
                              "pkg/core/.engine.py.tmp": None}

    (root / "pkg/new/inner").mkdir(parents=True)  # a new folder, and a file in it
    (root / "pkg/new/inner/fresh.py").write_text("X = 1\n")
    assert "pkg/new/inner/fresh.py" in paths(lister, root)
    (root / "pkg/here.py").write_text("Y = 2\n")  # in a folder that held only folders
    assert "pkg/here.py" in paths(lister, root)
    assert lister.touched == {"pkg/here.py": FileStat("pkg/here.py", 6, (root / "pkg/here.py").stat().st_mtime_ns)}
    (root / "docs/guide.md").rename(root / "docs/manual.md")
    assert {"docs/manual.md"} <= paths(lister, root) and "docs/guide.md" not in paths(lister, root)
    shutil.rmtree(root / "pkg/core/deep")
    assert not any(p.startswith("pkg/core/deep/") for p in paths(lister, root))
    (root / "pkg/core/deep").mkdir()  # back again: watched afresh
    (root / "pkg/core/deep/parts.py").write_text("def part():\n    return 3\n")
    assert "pkg/core/deep/parts.py" in paths(lister, root)
    assert lister.list(root) and lister.unchanged
    lister.close()


def test_git_is_asked_about_new_files_alone(tmp_path):
    root = tmp_path / "tree"
    make_repo(root, {**FILES, ".gitignore": "scratch_*.py\n"})
    lister = Lister()
    lister.list(root)
    (root / "pkg/core/scratch_1.py").write_text("S = 1\n")  # ignored
    (root / "pkg/core/scratch_2.py").write_text("S = 2\n")  # ignored, but tracked all the same
    subprocess.run(["git", "add", "-f", "pkg/core/scratch_2.py"], cwd=root, check=True)
    (root / "pkg/core/kept.py").write_text("K = 1\n")
    listed = paths(lister, root)
    assert {"pkg/core/kept.py", "pkg/core/scratch_2.py"} <= listed and "pkg/core/scratch_1.py" not in listed
    assert lister.touched is not None and lister.touched["pkg/core/scratch_1.py"] is None  # no whole listing
    lister.close()


def test_a_new_ignore_rule_is_seen_in_git(tmp_path):
    root = tmp_path / "tree"
    make_tree(root, git=True)
    (root / "scratch.py").write_text("Z = 3\n")
    lister = Lister()
    assert "scratch.py" in paths(lister, root)
    (root / ".gitignore").write_text("scratch.py\n")
    assert "scratch.py" not in paths(lister, root) and lister.touched is None
    lister.close()


def test_without_inotify_every_listing_looks_at_the_tree(tmp_path):
    root = tmp_path / "tree"
    make_tree(root, git=True)
    lister = Lister()
    lister.watcher.close()  # as when the watch limit is reached
    assert paths(lister, root) == set(FILES) and not lister.unchanged
    (root / "setup.py").unlink()
    assert paths(lister, root) == set(FILES) - {"setup.py"} and not lister.unchanged


def test_a_quiet_turn_keeps_the_map_and_a_commit_that_changes_files_refreshes_it(tmp_path):
    root = tmp_path / "tree"
    make_tree(root, git=True)
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    assert repo_map.refresh()
    assert not repo_map.refresh() and repo_map.stats.parsed == 0
    subprocess.run(["git", "checkout", "-q", "-b", "other"], cwd=root, check=True)
    (root / "pkg/core/engine.py").write_text("def start():\n    return 1\n")
    subprocess.run(["git", "commit", "-qam", "rename run"], cwd=root, check=True)
    assert repo_map.refresh() and repo_map.stats.parsed == 1
    subprocess.run(["git", "checkout", "-q", "main"], cwd=root, check=True)  # files change back
    assert repo_map.refresh() and [d[0] for d in repo_map.symbol("run").definitions] == ["pkg/core/engine.py"]
    repo_map.close()


def test_only_local_filesystems_are_watched(tmp_path):
    assert local_filesystem(str(tmp_path.resolve()))
    assert not local_filesystem("/proc/self")  # no event tells of its changes
    assert not local_filesystem("/sys/kernel")  # sysfs


def test_a_file_made_while_git_lists_at_start_is_seen_at_the_next_look(tmp_path):
    """A warm start lets git list while it reads its cache (Lister.start): a file made after git
    has listed, in a folder the cache knew, is heard of all the same."""
    root = tmp_path / "tree"
    make_tree(root, git=True)
    lister = Lister()
    lister.start(root, known=FILES)
    look = lister._started[1]
    for git in look.processes.values():
        git.wait()  # git has listed: what is made now is not in its listing
    late = root / "pkg/core/late.py"
    late.write_text("def late():\n    pass\n")
    assert "pkg/core/late.py" not in paths(lister, root)
    assert "pkg/core/late.py" in paths(lister, root)
    # Heard of: only that file was looked at.
    assert lister.touched == {"pkg/core/late.py": FileStat("pkg/core/late.py", late.stat().st_size, late.stat().st_mtime_ns)}
