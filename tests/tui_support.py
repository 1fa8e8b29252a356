"""Driving the real app through Pilot against the fake server."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from agent.config import Config
from agent.tui.app import HeronApp
from agent.tui.widgets.prompt_input import PromptInput
from tests.fakes.openai_server import FakeOpenAIServer

SIZE = (110, 36)


def make_app(server: FakeOpenAIServer, repo: Path, **config: Any) -> HeronApp:
    return HeronApp(Config(base_url=server.base_url, max_retries=0, **config), repo)


async def wait_for(pilot: Pilot, condition: Callable[[], object], what: str, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def connected(pilot: Pilot) -> HeronApp:
    app = pilot.app
    assert isinstance(app, HeronApp)
    await wait_for(pilot, lambda: app.session is not None, "the app to connect")
    return app


async def say(pilot: Pilot, text: str) -> None:
    """Put text in the input box and press Enter, as a user would after typing it."""
    prompt = pilot.app.query_one(PromptInput)
    prompt.load_text(text)
    prompt.move_cursor(prompt.document.end)
    await pilot.press("enter")


async def command(pilot: Pilot, text: str) -> None:
    """Send a slash command and wait for what it adds to the transcript."""
    app = pilot.app
    assert isinstance(app, HeronApp)
    before = len(app.transcript.entries)
    await say(pilot, text)
    await wait_for(pilot, lambda: len(app.transcript.entries) > before, f"the answer to {text}")


async def idle(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, HeronApp)
    await pilot.pause(0.05)
    await wait_for(pilot, lambda: not app.running, "the run to end")
    await pilot.pause(0.05)


def shown_text(widget: Widget) -> str:
    """The text a widget shows on screen now."""
    lines = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return "\n".join(line.text.strip() for line in lines).strip()


def entry_kinds(app: HeronApp) -> list[str]:
    return [type(e).__name__.removesuffix("Entry") for e in app.transcript.entries]
