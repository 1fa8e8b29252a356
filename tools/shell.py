"""The persistent shell: one bash per session, driven by pexpect.

Completion and exit status are read from a per-command random marker, so a command's own output
cannot fake them. State (cwd, variables, functions) persists between calls.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
from pathlib import Path

import pexpect
from pydantic import BaseModel, Field

from tools.base import ToolContext, ToolResult, tool

OUTPUT_HEAD = 8000
OUTPUT_TAIL = 8000
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


class ShellSession:
    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env = env if env is not None else dict(os.environ)
        self.restarted = False
        self.busy = False
        self._start()

    def _start(self) -> None:
        env = {**self.env, "PS1": "", "PS2": "", "TERM": "dumb", "PAGER": "cat", "GIT_PAGER": "cat"}
        self.child = pexpect.spawn(
            "bash",
            ["--noprofile", "--norc", "--noediting"],
            cwd=str(self.cwd),
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            echo=False,
            dimensions=(50, 250),
        )
        # pexpect waits 50 ms before every send by default; a shell round trip needs none of it.
        self.child.delaybeforesend = None
        self._run_raw("stty -echo; unset HISTFILE", timeout=10)

    def run(self, command: str, timeout: float) -> tuple[str, int | None]:
        """Run one command; returns (output, exit code), or (output, None) when it timed out."""
        if not self.child.isalive():
            self._start()
            self.restarted = True
        self.busy = True
        try:
            return self._run_raw(command, timeout)
        finally:
            self.busy = False

    def interrupt(self) -> None:
        """Stop the running command from the front-end's thread; the shell itself lives on."""
        if self.busy and self.child.isalive():
            self._signal_children(signal.SIGINT)

    def _signal_children(self, sig: int) -> None:
        # Not Ctrl-C on the pty: the terminal would flush the queued input, marker line and all.
        try:
            children = Path(f"/proc/{self.child.pid}/task/{self.child.pid}/children").read_text().split()
        except OSError:
            return
        for pid in map(int, children):
            try:
                group = os.getpgid(pid)
                if group == os.getpgid(self.child.pid):
                    os.kill(pid, sig)  # no job control: the group is the shell's own
                else:
                    os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                continue

    def _run_raw(self, command: str, timeout: float) -> tuple[str, int | None]:
        token = secrets.token_hex(8)
        end = f"__HERON_DONE_{token}"
        script = (
            f"__heron_cmd=$(cat <<'__HERON_EOF_{token}'\n{command}\n__HERON_EOF_{token}\n)\n"
            f"eval \"$__heron_cmd\" < /dev/null\n"
            f"printf '\\n{end}:%s\\n' \"$?\"\n"
        )
        self.child.send(script)
        pattern = re.compile(re.escape(end) + r":(\d+)\r?\n")
        try:
            self.child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            partial = self.child.before or ""
            self._interrupt(pattern)
            return clean_output(partial), None
        except pexpect.EOF:
            out = self.child.before or ""
            self._start()
            self.restarted = True
            return clean_output(out) + "\n(the shell exited; a new one was started)", -1
        output = clean_output(self.child.before or "").rstrip("\n")
        return output, int(self.child.match.group(1))

    def _interrupt(self, pattern: re.Pattern[str]) -> None:
        self._signal_children(signal.SIGINT)
        try:
            self.child.expect(pattern, timeout=5)
        except (pexpect.TIMEOUT, pexpect.EOF):
            self.child.close(force=True)
            self._start()
            self.restarted = True

    def close(self) -> None:
        if self.child.isalive():
            self.child.close(force=True)


def clean_output(text: str) -> str:
    """Strip terminal escapes, keep the last frame of carriage-return progress, cap the length."""
    text = ANSI.sub("", text).replace("\r\n", "\n")
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
    if len(text) > OUTPUT_HEAD + OUTPUT_TAIL:
        cut = len(text) - OUTPUT_HEAD - OUTPUT_TAIL
        text = f"{text[:OUTPUT_HEAD]}\n... [{cut} characters cut] ...\n{text[-OUTPUT_TAIL:]}"
    return text


class ShellArgs(BaseModel):
    command: str = Field(description="a bash command; state (cwd, variables) persists between calls")
    timeout: float | None = Field(None, gt=0, description="seconds before the command is interrupted")


@tool(kind="shell", subject=lambda a: a.command)
def shell(args: ShellArgs, ctx: ToolContext) -> ToolResult:
    """Run a bash command in the workspace's persistent shell. Stdin is empty; use non-interactive flags."""
    session: ShellSession = ctx.resource("shell", lambda: ShellSession(ctx.workspace))
    timeout = args.timeout or ctx.state.get("shell_timeout", 120.0)
    output, code = session.run(args.command, timeout)
    notes = []
    if session.restarted:
        notes.append("(the shell had died and was restarted; cwd and variables were reset)")
        session.restarted = False
    if code is None:
        notes.append(f"(interrupted after {timeout:g} s; the shell is still usable)")
    elif code != 0:
        notes.append(f"(exit code {code})")
    text = "\n".join([output or "(no output)", *notes])
    return ToolResult(text, is_error=code != 0, data={"exit_code": code})
