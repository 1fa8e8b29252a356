"""Ctrl+C in the TUI, through Pilot against the real app, loop and shell: once interrupts the
running turn (its command stops, the app stays), twice quits."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import make_repo
from tests.fakes.openai_server import call, tool_reply
from tests.faults.support import running
from tests.tui_support import SIZE, connected, idle, make_app, say, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.anyio]


async def test_ctrl_c_once_interrupts_the_turn_twice_quits(tmp_path, fake_server):
    repo = tmp_path / "r"
    make_repo(repo, {"a.py": "a = 1\n"})
    token = f"300.{secrets.randbelow(10**6):06d}"
    fake_server.script(tool_reply(call("shell", command=f"sleep {token}")))
    async with make_app(fake_server, repo, approval="full-auto").run_test(size=SIZE) as pilot:
        app = await connected(pilot)
        await say(pilot, "wait a while")
        await wait_for(pilot, lambda: bool(running(token)), "the command to start", seconds=120)
        await pilot.press("ctrl+c")
        await idle(pilot)  # the turn ended: interrupted, not at the command's end
        assert app.is_running
        await wait_for(pilot, lambda: not running(token), "the command to stop", seconds=30)
        await pilot.press("ctrl+c")
        await pilot.pause(0.1)
        assert not app.is_running
