"""What a line typed into the input box does: a slash command, a user command, or a message."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from agent.errors import HeronError
from agent.model.endpoint import served_models
from agent.tui import session_commands
from agent.tui.commands import help_text, parse
from agent.tui.entries import PanelEntry
from agent.tui.modes import MODES
from prompts import render

if TYPE_CHECKING:
    from agent.tui.app import HeronApp

GIT_TIMEOUT = 30


async def handle(app: HeronApp, text: str) -> None:
    command = parse(text)
    if command is None:
        await app.send(_in_mode(app, text), shown=text)
        return
    name, arguments = command
    if name in app.user_commands:
        await app.send(_in_mode(app, app.user_commands[name].expand(arguments)), shown=text)
        return
    handler = HANDLERS.get(name)
    if handler is None:
        await app.say(f"Unknown command /{name}. /help lists the commands.", "warning")
        return
    await handler(app, arguments)


def _in_mode(app: HeronApp, task: str) -> str:
    """In plan mode the task is wrapped in the instructions to explore and plan, not act."""
    return render("plan", task=task) if app.mode == "plan" else task


async def _help(app: HeronApp, arguments: str) -> None:
    await app.say(help_text(app.user_commands))


async def _diff(app: HeronApp, arguments: str) -> None:
    try:
        diff = _git(app, "diff", "HEAD", "--") or _git(app, "diff", "--")
        untracked = _git(app, "ls-files", "--others", "--exclude-standard")
    except HeronError as e:
        await app.say(str(e), "warning")
        return
    body = diff + "".join(f"\n(new file) {path}" for path in untracked.splitlines())
    await app.transcript.add(PanelEntry(title="git diff", body=body.strip() or "(no changes)",
                                        lexer="diff" if diff else None, status="ok", expanded=True))


def _git(app: HeronApp, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=app.workspace, capture_output=True, text=True,
                              timeout=GIT_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HeronError(f"git {args[0]} failed: {e}") from None
    if proc.returncode != 0:
        if "not a git repository" in proc.stderr:
            raise HeronError(f"{app.workspace} is not a git repository: /diff has nothing to compare")
        return ""
    return proc.stdout


async def _model(app: HeronApp, arguments: str) -> None:
    if app.runtime is None:
        await app.say("Not connected to a model server yet.", "warning")
        return
    # Asking the server takes a round trip: never on the UI thread.
    app.run_worker(lambda: _ask_models(app, arguments), thread=True, group="model")


def _ask_models(app: HeronApp, arguments: str) -> None:
    assert app.runtime is not None
    model = app.runtime.model
    try:
        served = served_models(model.base_url, app.config)
    except HeronError as e:
        app.call_from_thread(app.say, str(e), "error")
        return
    if not arguments:
        listed = "\n".join(f"{'→' if m == model.model else ' '} {m}" for m in served)
        app.call_from_thread(app.say, f"Models at {model.base_url}:\n{listed}\n/model NAME switches.")
    elif arguments not in served:
        app.call_from_thread(app.say, f"{model.base_url} does not serve '{arguments}'; it serves: "
                                      f"{', '.join(served)}", "warning")
    else:
        model.model = arguments
        app.call_from_thread(app.switched_model, arguments)


async def _mode(app: HeronApp, arguments: str) -> None:
    if not arguments:
        await app.say(f"Mode: {app.mode}. /mode {' | '.join(MODES)} sets it; Shift+Tab cycles.")
    elif arguments not in MODES:
        await app.say(f"No mode '{arguments}'; choose one of {', '.join(MODES)}.", "warning")
    else:
        app.set_mode(arguments)
        await app.say(f"Mode: {arguments}.")


async def _plan(app: HeronApp, arguments: str) -> None:
    app.set_mode("plan")
    if arguments:
        await app.send(_in_mode(app, arguments), shown=f"/plan {arguments}")
    else:
        await app.say("Plan mode: describe the task; the model explores read-only and writes a plan for you to review.")


async def _quit(app: HeronApp, arguments: str) -> None:
    app.exit()


HANDLERS = {"help": _help, "diff": _diff, "model": _model, "mode": _mode, "plan": _plan, "quit": _quit,
            **session_commands.HANDLERS}
