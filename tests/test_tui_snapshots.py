"""How the main screens look (pytest-textual-snapshot); `pytest --snapshot-update` accepts changes.

The fake server's port and the measured speed differ from run to run, so the status bar is given
fixed ones before each picture.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import TextArea

from agent.config import Config
from agent.tui.app import HeronApp
from agent.tui.screens.approval import ApprovalScreen
from agent.tui.screens.no_endpoint import NoEndpointScreen
from agent.tui.screens.plan_review import PlanReviewScreen
from agent.tui.widgets.status_bar import StatusBar
from tests.conftest import make_repo
from tests.fakes.openai_server import Reply, call, tool_reply
from tests.tui_support import SIZE, connected, idle, make_app, say, wait_for

PLAN = [{"text": "read calc.py", "status": "done"}, {"text": "fix add in calc.py", "status": "in_progress"},
        {"text": "run the tests", "status": "pending"}]


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    make_repo(path, {"calc.py": "def add(a, b):\n    return a - b\n"})
    return path


def steady_status(pilot: Pilot) -> None:
    status = pilot.app.query_one(StatusBar)
    status.endpoint = "http://127.0.0.1:8000/v1"
    status.tokens_per_second = 42.0
    status.used_tokens = 12050  # heron's count of its prompts would change the picture with every prompt edit
    for area in pilot.app.query(TextArea):  # a blinking cursor is drawn or not, by the clock
        area.cursor_blink = False


def test_main_screen_after_a_fix(snap_compare, repo, fake_server):
    fake_server.script(
        tool_reply(call("todo", items=PLAN)),
        tool_reply(call("read_file", path="calc.py")),
        tool_reply(call("edit_file", path="calc.py", old="a - b", new="a + b")),
        tool_reply(call("shell", command="python -c 'import calc; print(calc.add(2, 3))'")),
        Reply(text="Fixed: `add` now **adds**.\n\n- calc.py: `a - b` → `a + b`", reasoning="The sign is wrong.",
              prompt_tokens=12000, completion_tokens=50, cached_tokens=11000),
    )

    async def run_before(pilot: Pilot) -> None:
        await connected(pilot)
        await say(pilot, "add(2, 3) returns -1; fix it")
        await idle(pilot)
        steady_status(pilot)

    assert snap_compare(make_app(fake_server, repo, approval="full-auto", context_window=262144),
                        terminal_size=SIZE, run_before=run_before)


def until_screen(text: str, screen: type[Screen]) -> Callable[[Pilot], Awaitable[None]]:
    """Send `text`, then wait for `screen` to open."""

    async def run_before(pilot: Pilot) -> None:
        await connected(pilot)
        await say(pilot, text)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen), screen.__name__)
        steady_status(pilot)

    return run_before


def test_approval_modal(snap_compare, repo, fake_server):
    # The app closes with the approval open: the call is refused and the model not asked again.
    fake_server.script(tool_reply(call("shell", command="python -m pytest -q tests/test_calc.py")))
    assert snap_compare(make_app(fake_server, repo), terminal_size=SIZE,
                        run_before=until_screen("run the tests", ApprovalScreen))


def test_plan_review(snap_compare, repo, fake_server):
    fake_server.script(tool_reply(call("todo", items=[{**i, "status": "pending"} for i in PLAN])),
                       tool_reply(call("finish", summary="`add` subtracts: change the operator, then run the tests.")))
    assert snap_compare(make_app(fake_server, repo), terminal_size=SIZE,
                        run_before=until_screen("/plan add is broken", PlanReviewScreen))


def test_no_endpoint_screen(snap_compare, repo):
    # Port 9 (discard): nothing listens there, and the screen's retries keep the same error text.
    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, NoEndpointScreen), "the screen")

    app = HeronApp(Config(base_url="http://127.0.0.1:9/v1", max_retries=0), repo)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
