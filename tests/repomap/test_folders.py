"""A new process knows git's untracked files from the folders kept in the snapshot: it asks git
of the folders that moved since, and walks the whole tree only when what git ignores may have
changed. Each case below is checked against git's own walk."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

from agent.repomap import RepoMap
from agent.repomap.folders import MOVED_MAX
from agent.repomap.gitstate import GitLook
from tests.conftest import make_repo, write_files

FILES = {"pkg/mod.py": "def step(x):\n    return x\n", "pkg/sub/deep.py": "X = 1\n", "README.md": "# r\n",
         ".gitignore": "*.log\nbuild/\n"}
# Present when the map is saved, none of it tracked: git's walk enters these folders although
# it lists no file in them, or lists only untracked ones.
UNTRACKED = {"pkg/new_then.py": "A = 1\n", "logs/old.log": "ignored\n", "fresh/inner/a.py": "B = 2\n",
             "build/out.py": "ignored\n"}
EMPTY = ["empty", "fresh/hollow", "logs/nested"]


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def untracked_by_walk(root: Path) -> set[str]:
    return set(filter(None, git(root, "ls-files", "-z", "--others", "--exclude-standard").split("\0")))


def saved(tmp_path: Path, more: dict[str, str] | None = None) -> Path:
    """A repository (FILES and `more`) whose map was saved, every folder's mtime well before the save."""
    root = tmp_path / "repo"
    make_repo(root, FILES | (more or {}))
    write_files(root, UNTRACKED)
    for folder in EMPTY:
        (root / folder).mkdir(parents=True)
    past = time.time() - 60
    for top, dirs, _ in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        os.utime(top, (past, past))
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    repo_map.refresh()
    repo_map.close()
    return root


def looked(root: Path, tmp_path: Path) -> tuple[set[str], set[str]]:
    """The untracked files a new process finds, and the questions it put to git."""
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    snapshot = repo_map.cache.snapshot()
    repo_map.close()
    assert snapshot is not None and snapshot.git is not None and snapshot.git.folders is not None
    look = GitLook(root, untracked=False)
    view = look.view(snapshot.git)
    assert view is not None
    return set(view.untracked), look.asked


def write(path: Path, text: str = "C = 3\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


CHANGES: dict[str, Callable[[Path], None]] = {
    "nothing": lambda root: None,
    "a file in a tracked folder": lambda root: write(root / "pkg/sub/added.py"),
    "a file at the top": lambda root: write(root / "top.py"),
    "a file in a folder that was empty": lambda root: write(root / "empty/now.py"),
    "a file in an empty folder of an untracked one": lambda root: write(root / "fresh/hollow/now.py"),
    "a file in a folder of ignored files": lambda root: write(root / "logs/now.py"),
    "a file in an empty folder below ignored files": lambda root: write(root / "logs/nested/now.py"),
    "a new folder of folders": lambda root: write(root / "pkg/a/b/c/now.py"),
    "a file in an ignored folder": lambda root: write(root / "build/more.py"),
    "an ignored file": lambda root: write(root / "pkg/debug.log"),
    "an untracked file removed": lambda root: (root / "pkg/new_then.py").unlink(),
    "an untracked file renamed": lambda root: (root / "pkg/new_then.py").rename(root / "pkg/sub/moved.py"),
    "an untracked folder removed": lambda root: shutil.rmtree(root / "fresh"),
    "names that are globs": lambda root: write(root / "we[ir]d*/[a]?.py"),
    "a file let go of by the index": lambda root: git(root, "rm", "-q", "--cached", "pkg/mod.py"),
    "an untracked file added to the index": lambda root: git(root, "add", "pkg/new_then.py"),
}


RULES: dict[str, Callable[[Path], None]] = {
    ".gitignore edited in place": lambda root: (root / ".gitignore").write_text("*.log\nbuild/\n*.py\n"),
    "a .gitignore in a folder": lambda root: write(root / "pkg/.gitignore", "new_then.py\n"),
    "the exclude file": lambda root: write(root / ".git/info/exclude", "fresh/\n"),
}


@pytest.mark.parametrize("change", [*CHANGES, *RULES])
def test_untracked_files_are_found_from_the_folders_that_moved(tmp_path, monkeypatch, change):
    """git walks the whole tree only when what it ignores may have changed."""
    monkeypatch.setenv("GIT_LITERAL_PATHSPECS", "1")  # a user's setting, not to change what is found
    root = saved(tmp_path)
    (CHANGES | RULES)[change](root)
    untracked, asked = looked(root, tmp_path)
    assert untracked == untracked_by_walk(root)
    assert ("untracked" in asked) == (change in RULES)


def test_many_moved_folders_send_it_back_to_its_walk(tmp_path):
    root = saved(tmp_path)
    for k in range(20):
        write(root / f"many_{k}/x.py")
        write(root / f"pkg/sub/f_{k}.py")
    os.utime(root, (time.time() - 30, time.time() - 30))  # the top folder vouched for again,
    untracked, asked = looked(root, tmp_path)  # but not the folders new in it
    assert untracked == untracked_by_walk(root)


def test_a_new_process_maps_a_file_new_in_a_folder_that_held_none(tmp_path):
    root = saved(tmp_path)
    write(root / "empty/now.py", "def arrived():\n    pass\n")
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    repo_map.refresh()
    assert "empty/now.py" in repo_map.paths and repo_map.stats.parsed == 1
    repo_map.close()


@pytest.mark.parametrize("moved", [False, True])
def test_the_folders_none_moved_in_are_kept_for_the_next_save(tmp_path, moved):
    root = saved(tmp_path)
    with open(root / "pkg/mod.py", "a") as file:  # in place: no folder moves
        file.write("\ndef more():\n    pass\n")
    if moved:
        write(root / "pkg/sub/added.py")
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    snapshot = repo_map.cache.snapshot()
    repo_map.close()
    assert snapshot is not None and snapshot.git is not None
    view = GitLook(root, untracked=False).view(snapshot.git)
    assert view is not None and (view.folders is snapshot.git.folders) != moved


def test_folders_moved_during_a_session_are_vouched_for_at_its_close(tmp_path):
    root = saved(tmp_path, {f"area_{k}/mod.py": f"A_{k} = {k}\n" for k in range(MOVED_MAX + 4)})
    shutil.rmtree(tmp_path / "cache")  # a session begun cold, whose look at git is its first listing
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    repo_map.refresh()
    for k in range(MOVED_MAX + 4):  # more folders than a new process asks git of one by one
        write(root / f"area_{k}/new.py", f"def made_{k}():\n    pass\n")
    time.sleep(0.1)  # past the racy window of the look the close takes
    assert repo_map.refresh() and "area_7/new.py" in repo_map.paths
    repo_map.close()
    untracked, asked = looked(root, tmp_path)
    assert untracked == untracked_by_walk(root) and "area_7/new.py" in untracked
    assert "untracked" not in asked


def test_a_start_that_walked_keeps_the_folders_anew(tmp_path):
    """git's configuration rewritten, nothing else: the session whose start walked every folder
    keeps them at its close, so that the next start need not walk again."""
    root = saved(tmp_path)
    git(root, "config", "heron.touched", "yes")
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    repo_map.refresh()
    assert repo_map.lister.walked_all
    repo_map.close()
    untracked, asked = looked(root, tmp_path)
    assert untracked == untracked_by_walk(root)
    assert "untracked" not in asked


@pytest.mark.parametrize("made", [False, True])
def test_watching_a_resumed_tree_asks_git_by_the_kept_folders(tmp_path, made):
    """Once a warm start's map is out, the tree is watched, then git asked again what changed
    meanwhile: of untracked files, by the folders kept (then kept again when none moved), not
    by git's walk; a file made before its folder was watched is found all the same."""
    root = saved(tmp_path)
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    kept = repo_map.cache.snapshot().git.folders
    repo_map.refresh()
    if made:  # before any folder is watched
        write(root / "fresh/inner/later/made.py", "def made():\n    pass\n")
    repo_map.render("made")
    repo_map.lister._arming.join()
    view = repo_map.lister.view
    assert view is not None and view.untracked == frozenset(untracked_by_walk(root))
    assert (view.folders == kept) != made
    assert repo_map.refresh() == made and ("fresh/inner/later/made.py" in repo_map.paths) == made
    repo_map.close()
