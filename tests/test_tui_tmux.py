"""The real `heron` in tmux, through a whole fix with approvals, as a user at a terminal."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import HERON, heron_env, make_repo
from tests.fakes.openai_server import FakeOpenAIServer, Reply, call, tool_reply
from tests.test_fix_cli import BUGGY, FIXED, fixing_script, inventory
from tests.tmux_support import TmuxApp

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_a_whole_fix_in_the_terminal_with_approvals(tmp_path, home, fake_server):
    repo = inventory(tmp_path)
    fake_server.script(*fixing_script())
    app = TmuxApp([str(HERON), "--base-url", fake_server.base_url], cwd=repo, env=heron_env(home, TERM="xterm-256color"))
    try:
        app.wait_for("fake-model")
        app.type("low_stock(3) misses items with exactly 3 left; fix it")
        app.keys("Enter")
        # The modal's title and its diff may reach the screen in different frames on a busy machine.
        screen = app.wait_for(f"+        return sorted(item for item, n in self._counts.items() {FIXED}")
        assert "Allow edit_file on inventory/stock.py?" in screen
        app.keys("y")
        app.wait_for("Allow shell on python -m pytest -q?")
        app.keys("y")
        screen = app.wait_for("low_stock now includes items at the threshold")
        # The command's short output shows at a glance, under its panel's call.
        assert screen.index("shell  $ python -m pytest -q") < screen.index("3 passed")
        assert "inventory/stock.py" in screen  # the side panel's files touched
        assert FIXED in (repo / "inventory/stock.py").read_text() and BUGGY not in (repo / "inventory/stock.py").read_text()
        app.keys("C-c")
        app.wait_for("Press Ctrl+C again to quit")
        app.keys("C-c")
        deadline = time.monotonic() + 15
        while not app.exited() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.exited()
    finally:
        app.close()


def test_the_screens_thread_outranks_the_sessions_work_and_the_commands_it_runs(
        tmp_path: Path, home: Path, fake_server: FakeOpenAIServer) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"notes.txt": "a note\n", "heron.toml": 'approval = "full-auto"\n'})
    fake_server.script(tool_reply(call("shell", command="echo niceness=$(nice)")), Reply(text="Checked."))
    app = TmuxApp([str(HERON), "--base-url", fake_server.base_url], cwd=repo,
                  env=heron_env(home, TERM="xterm-256color"))
    try:
        app.wait_for("fake-model")
        app.type("how nice is the shell?")
        app.keys("Enter")
        ours = os.nice(0)  # heron starts at this test's own priority, whatever runs it
        app.wait_for(f"niceness={min(19, ours + 10)}")  # the shell, started by the session's work, gave way
        app.wait_for("Checked.")
        # The screen's thread (the main one, whose id is the process's) did not.
        assert Path(f"/proc/{app.pid()}/stat").read_text().rsplit(")", 1)[1].split()[16] == str(ours)
    finally:
        app.close()
