"""shell: the model's persistent bash, run by the shell engine (agent/sandbox/shell.py)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.sandbox.shell import ShellSession
from tools.base import ToolContext, ToolResult, tool


class ShellArgs(BaseModel):
    command: str = Field(description="a bash command; state (cwd, variables) persists between calls")
    timeout: float | None = Field(None, gt=0, description="seconds before the command is interrupted")


@tool(kind="shell", subject=lambda a: a.command)
def shell(args: ShellArgs, ctx: ToolContext) -> ToolResult:
    """Run a bash command in the workspace's persistent shell. Stdin is empty and there is no terminal: use non-interactive flags."""
    if ctx.shell_session is None:
        ctx.shell_session = ShellSession(ctx.workspace, sandbox=ctx.shell.sandbox, idle_timeout=ctx.shell.idle_timeout)
    session = ctx.shell_session
    timeout = args.timeout or ctx.shell.timeout
    ctx.before_change(ctx.workspace)  # a command may change any file of the workspace
    # A timeout the model chose says the command is slow: silence is then no reason to stop it.
    result = session.run(args.command, timeout, idle_timeout=args.timeout)
    notes = []
    if session.restarted:
        notes.append(f"({session.restarted})")
        session.restarted = ""
    if result.stopped:
        notes.append(f"(the command did not finish: {result.stopped}; the shell is still usable)")
    elif result.exit_code != 0:
        notes.append(f"(exit code {result.exit_code})")
    notes += [f"({warning})" for warning in result.warnings]
    if result.hint:
        notes.append(f"({result.hint})")
    text = "\n".join([result.output or "(no output)", *notes])
    return ToolResult(text, is_error=result.exit_code != 0, data={"exit_code": result.exit_code},
                      warnings=list(result.warnings))
