"""Slash commands about the session: /undo /commit /compact /pin /map /mcp /sessions /resume /clear.

The ones that touch git, the model, the map or MCP servers are commands the core runs on its own
thread, so the UI never waits.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from agent.core.session import Commit, Compact, Pin, Session, ShowMap, ShowMcp, Undo, list_sessions, session_info
from agent.errors import HeronError
from agent.tui.host import Host
from agent.tui.screens.session_picker import SessionPickerScreen, describe_session

DEFAULT_COMMIT_SUMMARY = "changes made in a heron session"


async def _connected(app: Host) -> Session | None:
    """The session, or None after saying that heron is not connected yet."""
    if app.session is None:
        await app.say("Not connected to a model server yet; heron keeps trying.", "warning")
    return app.session


async def _idle(app: Host, command: str) -> bool:
    """Whether nothing runs now; otherwise say why /command must wait."""
    if app.running:
        await app.say(f"The model is working: wait, or press Esc, then /{command}.", "warning")
    return not app.running


async def _ready(app: Host, command: str) -> Session | None:
    """The session, when connected and idle; otherwise say why /command must wait."""
    session = await _connected(app)
    return session if session is not None and await _idle(app, command) else None


async def undo(app: Host, arguments: str) -> None:
    count = arguments.strip() or "1"
    if not count.isdigit() or int(count) < 1:
        await app.say("/undo N takes a number of turns, 1 or more.", "warning")
        return
    if await _ready(app, "undo") is not None:
        app.run_command(Undo(int(count)))


async def commit(app: Host, arguments: str) -> None:
    if await _ready(app, "commit") is not None:
        app.run_command(Commit(arguments or app.last_summary or DEFAULT_COMMIT_SUMMARY))


async def compact(app: Host, arguments: str) -> None:
    if await _ready(app, "compact") is not None:
        app.run_command(Compact())


async def pin(app: Host, arguments: str) -> None:
    if not arguments:
        await app.say("/pin FACT keeps FACT in front of the model, even after compaction.", "warning")
        return
    if (session := await _connected(app)) is not None:
        session.send(Pin(arguments))  # fine while the model works: applied between its steps


async def repo_map(app: Host, arguments: str) -> None:
    """/map [TASK]: the map the model would get for TASK, within the session's map budget."""
    if await _ready(app, "map") is not None:
        app.run_command(ShowMap(arguments))


async def mcp(app: Host, arguments: str) -> None:
    """/mcp: the MCP servers, their state and their tools (servers not started yet start now)."""
    if await _ready(app, "mcp") is not None:
        app.run_command(ShowMcp())


async def sessions(app: Host, arguments: str) -> None:
    found = list_sessions(app.workspace)
    if not found:
        await app.say("No recorded session in this repository yet.")
        return
    current = app.recording.id if app.recording else ""
    lines = [("→ " if s.id == current else "  ") + describe_session(s) for s in found[:30]]
    more = f"\n  … and {len(found) - 30} more (heron sessions)" if len(found) > 30 else ""
    await app.say("Sessions of this repository, latest first:\n" + "\n".join(lines) + more
                  + "\n/resume ID continues one.")


async def resume(app: Host, arguments: str) -> None:
    if not await _idle(app, "resume"):
        return
    if not arguments:
        current = app.recording.id if app.recording else ""
        others = [s for s in list_sessions(app.workspace) if s.id != current]
        if not others:
            await app.say("No other recorded session in this repository.")
            return
        app.push_screen(SessionPickerScreen(others), _switch_to(app))
        return
    try:
        info = session_info(arguments)
    except HeronError as e:
        await app.say(str(e), "warning")
        return
    if info.workspace != str(app.workspace):
        await app.say(f"Session {info.id} belongs to {info.workspace}: `heron --resume {info.id}` opens it there.",
                      "warning")
        return
    await app.switch_session(info.id)


def _switch_to(app: Host) -> Callable[[str | None], Awaitable[None]]:
    async def chosen(session_id: str | None) -> None:
        if session_id:
            await app.switch_session(session_id)

    return chosen


async def clear(app: Host, arguments: str) -> None:
    if not await _idle(app, "clear"):
        return
    await app.switch_session(None)


HANDLERS = {"undo": undo, "commit": commit, "compact": compact, "pin": pin, "map": repo_map, "mcp": mcp,
            "sessions": sessions, "resume": resume, "clear": clear}
