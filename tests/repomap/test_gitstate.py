"""A new process over a saved map asks git what changed since, and looks at those files alone."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from agent.repomap import RepoMap, files
from agent.repomap.gitstate import GitLook, GitState, index_path, index_stamp
from tests.conftest import make_repo, write_files

FILES = {f"pkg/mod_{i}.py": f"def step_{i}(x):\n    return x + {i}\n" for i in range(8)} | {
    "README.md": "# pkg\n", ".gitignore": "*.log\n"}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    make_repo(root, FILES)
    git(root, "update-index", "-q", "--refresh")  # the index as git's own commands leave it
    return root


def saved_map(root: Path, tmp_path: Path) -> None:
    first = RepoMap(root, cache_dir=tmp_path / "cache")
    first.refresh()
    first.close()


def new_map(root: Path, tmp_path: Path) -> RepoMap:
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    repo_map.refresh()
    return repo_map


def defined(repo_map: RepoMap, path: str) -> list[str]:
    source = repo_map.sources[path]
    repo_map.cache.load_heads([source])
    return [name for name, _ in source.defs]


def test_a_new_process_looks_only_at_the_files_git_names(tmp_path):
    root = repo(tmp_path)
    saved_map(root, tmp_path)
    write_files(root, {"pkg/mod_1.py": "def renamed(x):\n    return x\n", "pkg/new.py": "def fresh():\n    pass\n",
                       "debug.log": "ignored\n"})
    (root / "pkg/mod_2.py").unlink()
    (root / ".git/info/exclude").write_text("pkg/mod_3.py\n")  # tracked: still listed
    second = new_map(root, tmp_path)
    assert second.lister.touched is not None
    assert set(second.lister.touched) == {"pkg/mod_1.py", "pkg/mod_2.py", "pkg/new.py"}
    assert second.stats.parsed == 2
    assert "pkg/mod_2.py" not in second.paths and "debug.log" not in second.sources
    assert defined(second, "pkg/mod_1.py") == ["renamed"] and defined(second, "pkg/new.py") == ["fresh"]
    assert "pkg/mod_3.py" in second.paths
    second.close()
    third = new_map(root, tmp_path)  # saved again at close: what git still names is looked at, not read
    assert set(third.lister.touched or {}) == {"pkg/mod_1.py", "pkg/mod_2.py", "pkg/new.py"}
    assert third.stats.parsed == 0
    third.close()


def test_a_file_cached_while_modified_is_read_again_once_restored(tmp_path):
    for restored_before_saving in (False, True):
        root = repo(tmp_path / str(restored_before_saving))
        first = RepoMap(root, cache_dir=tmp_path / str(restored_before_saving) / "cache")
        first.refresh()
        (root / "pkg/mod_4.py").write_text("def edited():\n    pass\n")
        first.refresh()
        if restored_before_saving:  # git calls it clean, but the cache holds the edit
            git(root, "checkout", "--", "pkg/mod_4.py")
        first.close()
        git(root, "checkout", "--", "pkg/mod_4.py")
        second = RepoMap(root, cache_dir=tmp_path / str(restored_before_saving) / "cache")
        second.refresh()
        assert second.stats.parsed == 1 and defined(second, "pkg/mod_4.py") == ["step_4"]
        second.close()


def test_a_checkout_between_processes_reads_the_files_it_changed(tmp_path):
    root = repo(tmp_path)
    git(root, "checkout", "-q", "-b", "other")
    write_files(root, {"pkg/mod_5.py": "def other_5():\n    pass\n", "pkg/added.py": "def added():\n    pass\n"})
    git(root, "add", "-A")
    git(root, "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "other")
    git(root, "checkout", "-q", "main")
    saved_map(root, tmp_path)
    git(root, "checkout", "-q", "other")
    second = new_map(root, tmp_path)
    assert set(second.lister.touched or {}) == {"pkg/mod_5.py", "pkg/added.py"} and second.stats.parsed == 2
    assert defined(second, "pkg/mod_5.py") == ["other_5"] and "pkg/added.py" in second.paths
    second.close()


def test_a_change_after_a_resumed_start_is_seen_at_the_next_refresh(tmp_path):
    root = repo(tmp_path)
    saved_map(root, tmp_path)
    second = new_map(root, tmp_path)
    assert second.lister.touched == {}
    (root / "pkg/mod_6.py").write_text("def later():\n    pass\n")  # maybe before its folder is watched
    (root / "pkg/late.py").write_text("def late():\n    pass\n")
    assert second.refresh() and second.stats.parsed == 2
    assert defined(second, "pkg/mod_6.py") == ["later"] and "pkg/late.py" in second.paths
    assert not second.refresh()  # and watched from then on
    (root / "pkg/mod_7.py").write_text("def last():\n    pass\n")
    assert second.refresh() and second.lister.touched == {"pkg/mod_7.py": second.lister.touched["pkg/mod_7.py"]}
    second.close()


def test_a_tree_that_left_git_is_listed_whole(tmp_path):
    root = repo(tmp_path)
    saved_map(root, tmp_path)
    shutil.rmtree(root / ".git")
    (root / "pkg/mod_0.py").write_text("def outside():\n    pass\n")
    second = new_map(root, tmp_path)
    assert second.lister.touched is None  # git could not say: every file was looked at
    assert second.stats.parsed == 1 and defined(second, "pkg/mod_0.py") == ["outside"]
    second.close()


def test_git_is_asked_of_whole_paths(tmp_path):
    root = repo(tmp_path)
    write_files(root, {"pkg/naïve name.py": "X = 1\n"})
    git(root, "add", "-A")
    view = GitLook(root).view()
    assert view is not None
    assert view.tracks("pkg/mod_1.py") and view.tracks("README.md") and view.tracks("pkg/naïve name.py")
    assert not any(view.tracks(path) for path in ("pkg/mod_1", "kg/mod_1.py", "pkg", "mod_1.py", "EADME.md"))


@pytest.mark.parametrize("count", [3, files.LOOKED_UP + 5], ids=["each-looked-up", "index-read-whole"])
def test_files_untracked_when_saved_and_gone_or_ignored_since_leave_the_map(tmp_path, count):
    root = repo(tmp_path)
    write_files(root, {f"pkg/extra_{k}.py": f"def extra_{k}():\n    pass\n" for k in range(count)})
    saved_map(root, tmp_path)
    for k in range(0, count, 2):
        (root / f"pkg/extra_{k}.py").unlink()
    (root / ".git/info/exclude").write_text("".join(f"pkg/extra_{k}.py\n" for k in range(1, count, 2)))
    (root / "pkg/mod_0.py").write_text("def kept():\n    pass\n")
    git(root, "add", "pkg/mod_0.py")  # staged: git no longer names it as modified, nor did it then
    second = new_map(root, tmp_path)
    assert not any(path.startswith("pkg/extra_") for path in second.paths)
    assert defined(second, "pkg/mod_0.py") == ["kept"] and second.stats.parsed == 1
    second.close()


def test_a_map_made_once_does_not_watch_the_tree_yet_sees_a_change_after(tmp_path):
    root = repo(tmp_path)
    saved_map(root, tmp_path)
    once = RepoMap(root, cache_dir=tmp_path / "cache", watch=False)
    threads = threading.active_count()
    assert "pkg/mod_1.py" in once.render("step_1").text
    assert threading.active_count() == threads  # no thread began to watch the tree
    (root / "pkg/mod_1.py").write_text("def changed_later(x):\n    return x\n")
    assert once.refresh() and defined(once, "pkg/mod_1.py") == ["changed_later"]
    once.close()


def test_a_snapshot_is_read_in_place_and_its_pages_may_be_let_go(tmp_path):
    root = repo(tmp_path)
    saved_map(root, tmp_path)
    second = new_map(root, tmp_path)
    assert second.index is not None and not second.index.files.flags.writeable  # never written in place
    ranked = second.ranked("step_3").paths
    second.cache.release_pages()  # read again from the file when used
    second.index.__dict__.pop("_ranked")
    assert second.ranked("step_3").paths == ranked
    second.close()


def test_a_snapshot_saved_after_an_edit_has_the_patched_edges_folded_in(tmp_path):
    root = repo(tmp_path)
    saved_map(root, tmp_path)
    (root / "pkg/mod_1.py").write_text("def step_1(x):\n    return step_2(x) + step_3(x)\n")
    second = new_map(root, tmp_path)
    assert second.index is not None and second.index.patch is not None  # patched, not built again
    ranked = second.ranked("step_1").paths
    second.close()
    snapshot = second.cache.snapshot()
    assert snapshot is not None and snapshot.index.patch is None
    third = new_map(root, tmp_path)
    assert third.ranked("step_1").paths == ranked
    third.close()


def skip_checksum(root: Path) -> None:
    """The index's checksum zeroed, as git writes it with index.skipHash (git reads it all the same)."""
    index = root / ".git/index"
    data = index.read_bytes()
    index.write_bytes(data[:-20] + bytes(20))


@pytest.mark.parametrize("index", ["as saved", "a file staged", "written without a checksum"])
def test_git_lists_its_index_again_only_when_it_changed(tmp_path, index):
    """A new process takes the index's listing kept with the snapshot while git's index is the
    one it was read from (its size and checksum); else git lists it again."""
    root = repo(tmp_path)
    if index == "written without a checksum":
        skip_checksum(root)
    saved_map(root, tmp_path)
    if index == "a file staged":
        write_files(root, {"pkg/staged.py": "def staged():\n    pass\n"})
        git(root, "add", "pkg/staged.py")
    repo_map = RepoMap(root, cache_dir=tmp_path / "cache")
    snapshot = repo_map.cache.snapshot()
    assert snapshot is not None and snapshot.git is not None
    look = GitLook(root, untracked=False, index_then=repo_map.cache.saved_index_stamp())
    view = look.view(snapshot.git)
    assert view is not None and view.tracked == subprocess.run(
        ["git", "ls-files", "-s", "-z"], cwd=root, check=True, capture_output=True).stdout
    assert ("tracked" in look.asked) == (index != "as saved")
    repo_map.refresh()
    assert ("pkg/staged.py" in repo_map.paths) == (index == "a file staged")
    repo_map.close()


def test_an_index_listing_is_taken_only_from_the_state_of_that_index(tmp_path):
    """Told the index is as it was, git is asked all the same when the state it is read against
    was taken from another (another process saved a snapshot meanwhile, say)."""
    root = repo(tmp_path)
    look = GitLook(root, untracked=False, index_then=index_stamp(index_path(root)))
    assert "tracked" not in look.asked
    view = look.view(GitState(b"", (), None, "another"))
    assert view is not None and b"pkg/mod_1.py" in view.tracked and "tracked" in look.asked
