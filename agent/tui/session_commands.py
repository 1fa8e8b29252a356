"""Slash commands about the session: /undo /commit /compact /pin /map /sessions /resume /clear.

The ones that touch git, the model or the map run as background jobs, so the UI never waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable

from agent.context.transcript import list_sessions, session_info
from agent.core.build import Runtime, map_budget
from agent.errors import HeronError
from agent.model.tokens import count_tokens
from agent.repomap import session_map
from agent.tui.messages import JobEnded
from agent.tui.screens.session_picker import SessionPickerScreen, describe_session
from agent.vcs.checkpoints import GitCheckpoints
from agent.vcs.commit import check_can_commit, commit_session

if TYPE_CHECKING:
    from agent.tui.app import HeronApp

DEFAULT_COMMIT_SUMMARY = "changes made in a heron session"


async def _connected(app: HeronApp) -> Runtime | None:
    """The runtime, or None after saying that heron is not connected yet."""
    if app.runtime is None:
        await app.say("Not connected to a model server yet; heron keeps trying.", "warning")
    return app.runtime


async def _idle(app: HeronApp, command: str) -> bool:
    """Whether nothing runs now; otherwise say why /command must wait."""
    if app.running:
        await app.say(f"The model is working: wait, or press Esc, then /{command}.", "warning")
    return not app.running


async def _ready(app: HeronApp, command: str) -> Runtime | None:
    """The runtime, when connected and idle; otherwise say why /command must wait."""
    runtime = await _connected(app)
    return runtime if runtime is not None and await _idle(app, command) else None


async def undo(app: HeronApp, arguments: str) -> None:
    count = arguments.strip() or "1"
    if not count.isdigit() or int(count) < 1:
        await app.say("/undo N takes a number of turns, 1 or more.", "warning")
        return
    if (runtime := await _ready(app, "undo")) is None:
        return
    turns = int(count)
    checkpoints = runtime.checkpoints

    def job() -> JobEnded:
        result = checkpoints.undo(turns)
        return JobEnded(result.describe() + "\nThe model re-reads these files before it edits them again.")

    app.background(job)


async def commit(app: HeronApp, arguments: str) -> None:
    if (runtime := await _ready(app, "commit")) is None:
        return
    checkpoints = runtime.checkpoints
    if not isinstance(checkpoints, GitCheckpoints):
        await app.say(f"{app.workspace} is not a git repository: there is nothing to commit to.", "warning")
        return
    summary = arguments or app.last_summary or DEFAULT_COMMIT_SUMMARY

    def job() -> JobEnded:
        check_can_commit(runtime.workspace, on_new_branch=False)
        done = commit_session(checkpoints, runtime.loop, runtime.model.model, summary, runtime.emit)
        return JobEnded("" if done else "Nothing was committed.")

    app.background(job)


async def compact(app: HeronApp, arguments: str) -> None:
    if (runtime := await _ready(app, "compact")) is None:
        return

    def job() -> JobEnded:
        done = runtime.loop.compact("requested")
        return JobEnded("" if done else "Nothing to compact yet: the conversation has no older turns.")

    app.background(job)


async def pin(app: HeronApp, arguments: str) -> None:
    if not arguments:
        await app.say("/pin FACT keeps FACT in front of the model, even after compaction.", "warning")
        return
    if (runtime := await _connected(app)) is None:
        return
    runtime.loop.pin(arguments)  # safe while the model works: it is read at the next user turn
    await app.say(f"Pinned: {arguments}")


async def repo_map(app: HeronApp, arguments: str) -> None:
    """/map [TASK]: the map the model would get for TASK, within the session's map budget."""
    if (runtime := await _ready(app, "map")) is None:
        return
    budget = map_budget(runtime.config, runtime.endpoint)
    if budget <= 0:
        await app.say("The repo map is off (map_tokens = 0).", "warning")
        return

    def job() -> JobEnded:
        index = session_map(runtime.ctx)
        index.refresh()
        text = index.render(task=arguments, budget=budget).text
        title = f"repo map: {index.stats.files} files, {count_tokens(text):,} of {budget:,} tokens"
        return JobEnded(text or "(no source files found)", panel=title + (f", for: {arguments}" if arguments else ""))

    app.background(job)


async def sessions(app: HeronApp, arguments: str) -> None:
    found = list_sessions(app.workspace)
    if not found:
        await app.say("No recorded session in this repository yet.")
        return
    current = app.session.id if app.session else ""
    lines = [("→ " if s.id == current else "  ") + describe_session(s) for s in found[:30]]
    more = f"\n  … and {len(found) - 30} more (heron sessions)" if len(found) > 30 else ""
    await app.say("Sessions of this repository, latest first:\n" + "\n".join(lines) + more
                  + "\n/resume ID continues one.")


async def resume(app: HeronApp, arguments: str) -> None:
    if not await _idle(app, "resume"):
        return
    if not arguments:
        current = app.session.id if app.session else ""
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


def _switch_to(app: HeronApp) -> Callable[[str | None], Awaitable[None]]:
    async def chosen(session_id: str | None) -> None:
        if session_id:
            await app.switch_session(session_id)

    return chosen


async def clear(app: HeronApp, arguments: str) -> None:
    if not await _idle(app, "clear"):
        return
    await app.switch_session(None)


HANDLERS = {"undo": undo, "commit": commit, "compact": compact, "pin": pin, "map": repo_map,
            "sessions": sessions, "resume": resume, "clear": clear}
