"""What a line typed into the input box does: a slash command, a user command, or a message."""

from __future__ import annotations

import subprocess

from agent.core.session import SwitchModel
from agent.errors import HeronError
from agent.tui import session_commands
from agent.tui.commands import help_text, parse
from agent.tui.entries import PanelEntry
from agent.tui.host import Host
from agent.tui.modes import MODES
from prompts import render

GIT_TIMEOUT = 30


async def handle(app: Host, text: str) -> None:
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


def _in_mode(app: Host, task: str) -> str:
    """In plan mode the task is wrapped in the instructions to explore and plan, not act."""
    return render("plan", task=task) if app.mode == "plan" else task


async def _help(app: Host, arguments: str) -> None:
    await app.say(help_text(app.user_commands))


async def _diff(app: Host, arguments: str) -> None:
    try:
        # No git run inside submodules for it (tools/git.py says why).
        diff = _git(app, "diff", "--ignore-submodules=dirty", "HEAD", "--") or \
            _git(app, "diff", "--ignore-submodules=dirty", "--")
        untracked = _git(app, "ls-files", "--others", "--exclude-standard")
    except HeronError as e:
        await app.say(str(e), "warning")
        return
    body = diff + "".join(f"\n(new file) {path}" for path in untracked.splitlines())
    await app.show(PanelEntry(title="git diff", body=body.strip() or "(no changes)",
                                        lexer="diff" if diff else None, status="ok", expanded=True))


def _git(app: Host, *args: str) -> str:
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


async def _model(app: Host, arguments: str) -> None:
    if app.session is None:
        await app.say("Not connected to a model server yet.", "warning")
        return
    app.session.send(SwitchModel(arguments))  # the core asks the server, on its own thread


async def _mode(app: Host, arguments: str) -> None:
    if not arguments:
        await app.say(f"Mode: {app.mode}. /mode {' | '.join(MODES)} sets it; Shift+Tab cycles.")
    elif arguments not in MODES:
        await app.say(f"No mode '{arguments}'; choose one of {', '.join(MODES)}.", "warning")
    else:
        app.set_mode(arguments)
        await app.say(f"Mode: {arguments}.")


async def _plan(app: Host, arguments: str) -> None:
    app.set_mode("plan")
    if arguments:
        await app.send(_in_mode(app, arguments), shown=f"/plan {arguments}")
    else:
        await app.say("Plan mode: describe the task; the model explores read-only and writes a plan for you to review.")


async def _quit(app: Host, arguments: str) -> None:
    app.exit()


HANDLERS = {"help": _help, "diff": _diff, "model": _model, "mode": _mode, "plan": _plan, "quit": _quit,
            **session_commands.HANDLERS}
