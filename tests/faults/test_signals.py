"""Signals to the real CLI: SIGTERM and SIGINT end `heron fix` cleanly, mid-command, with the turn
closed (undo has it), no traceback, and no process of the shell left behind."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import make_repo, run_heron
from tests.faults.support import in_a_command, kill, running, wait_for

pytestmark = pytest.mark.faults


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_command_ends_heron_cleanly(tmp_path, home, fake_server, sig):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    state = {"XDG_STATE_HOME": str(home / "state")}
    heron, token = in_a_command(fake_server, repo, home, **state)
    _, err = kill(heron, sig)
    assert heron.returncode == 130, err
    assert "Traceback" not in err
    wait_for(lambda: not running(token), "the shell command to end with heron", timeout=10)
    undo = run_heron(["undo", "--repo", str(repo)], home, **state)
    assert undo.returncode == 0, undo.stderr
    assert "stopped before the turn ended" not in undo.stdout  # heron closed the turn itself
    assert not (repo / "new.py").exists()
