"""Shared sources of `fix --batch`: a bare mirror per repository, reused worktree slots, one parse."""

from __future__ import annotations

import re
from pathlib import Path

from agent.batch.sources import Sources
from tests.conftest import EXAMPLES, make_repo, run_heron


def test_slots_share_one_mirror_and_are_reused_once_released(tmp_path):
    origin = make_repo(tmp_path / "inventory", source=EXAMPLES / "inventory")
    first = origin.head.commit.hexsha
    (tmp_path / "inventory" / "NEWS").write_text("stock counts are exact now\n")
    origin.git.add("NEWS")
    second = origin.index.commit("news").hexsha
    sources = Sources(tmp_path / "cache")
    a = sources.checkout(str(tmp_path / "inventory"), first)
    b = sources.checkout(str(tmp_path / "inventory"), second)  # a is held: b gets its own slot
    try:
        assert a.tree != b.tree and a.tree.parent == b.tree.parent
        assert not (a.tree / "NEWS").exists() and (b.tree / "NEWS").is_file()
        assert [p.name for p in (tmp_path / "cache").glob("*.git")] == [a.tree.parent.name.replace(".trees", ".git")]
        # The same blob has the same mtime in every slot: the repo map's cache keys agree.
        for name in ("inventory/stock.py", "README.md"):
            assert (a.tree / name).stat().st_mtime_ns == (b.tree / name).stat().st_mtime_ns
        (a.tree / "scratch.txt").write_text("left by a task")
        (a.tree / "inventory/stock.py").write_text("broken by a task")
    finally:
        a.release()
        b.release()
    again = sources.checkout(str(tmp_path / "inventory"), second)
    try:
        assert again.tree == a.tree  # the free slot is reused, cleaned, at the new commit
        assert not (again.tree / "scratch.txt").exists() and (again.tree / "NEWS").is_file()
        assert "broken" not in (again.tree / "inventory/stock.py").read_text()
    finally:
        again.release()


def test_a_commit_newer_than_the_mirror_is_fetched(tmp_path):
    origin = make_repo(tmp_path / "inventory", source=EXAMPLES / "inventory")
    sources = Sources(tmp_path / "cache")
    sources.checkout(str(tmp_path / "inventory"), None).release()
    (tmp_path / "inventory" / "NEWS").write_text("later\n")
    origin.git.add("NEWS")
    later = origin.index.commit("later").hexsha
    slot = sources.checkout(str(tmp_path / "inventory"), later)
    try:
        assert slot.commit == later and (slot.tree / "NEWS").is_file()
    finally:
        slot.release()


def test_a_new_slot_starts_with_the_repo_maps_tags_already_parsed(tmp_path, home):
    make_repo(tmp_path / "inventory", source=EXAMPLES / "inventory")
    sources = Sources(tmp_path / "cache")
    a = sources.checkout(str(tmp_path / "inventory"), None)
    try:
        assert _parsed(a.tree, home) > 0
        b = sources.checkout(str(tmp_path / "inventory"), None)  # a second slot, seeded from the first
        try:
            assert _parsed(b.tree, home) == 0
        finally:
            b.release()
    finally:
        a.release()


def _parsed(tree: Path, home: Path) -> int:
    result = run_heron(["map", str(tree), "--stats"], home)
    assert result.returncode == 0, result.stderr
    return int(re.search(r"(\d+) parsed", result.stderr).group(1))
