"""The repo map in a process of its own (the TUI's): the same answers as in process, from
another interpreter, which ends with the session."""

from __future__ import annotations

import os
import signal

import pytest

from agent.repomap import RepoMap
from agent.repomap.apart import MapProcess, MapProcessError
from agent.secrets import DEFAULT_SECRET_FILES
from tests.conftest import make_repo
from tests.repomap.test_repomap import SHOP


def test_the_map_apart_answers_as_the_map_in_process(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    apart = MapProcess(root, DEFAULT_SECRET_FILES)
    try:
        assert apart._process.pid != os.getpid()
        assert apart.refresh()
        here = RepoMap(root, cache_dir=tmp_path / "cache")
        here.refresh()
        task = "the cart total is wrong when a discount applies"
        assert apart.render(task, ["shop/cart.py"], 2000) == here.render(task, ["shop/cart.py"], 2000)
        assert apart.symbol("price_of", lines=5) == here.symbol("price_of", lines=5)
        assert apart.stats.files == here.stats.files == len(SHOP)
        (root / "shop/cart.py").write_text("def emptied():\n    pass\n")
        assert apart.refresh() and not apart.refresh()
        here.close()
    finally:
        apart.close()
    assert apart._process.poll() == 0  # it ended, having saved its index


def test_a_map_process_that_died_is_a_clear_error(tmp_path):
    root = tmp_path / "shop"
    make_repo(root, SHOP)
    apart = MapProcess(root, DEFAULT_SECRET_FILES)
    apart.refresh()
    os.kill(apart._process.pid, signal.SIGKILL)
    apart._process.wait()
    with pytest.raises(MapProcessError, match=r"the repo map's process ended \(exit -9\)"):
        apart.render("cart")
    apart.close()
