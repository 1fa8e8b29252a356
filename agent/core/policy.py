"""The permission policy: approval mode plus allow / ask / deny rules. Plain data, no I/O.

Rules are glob patterns over a shell command or the path an edit changes. Deny beats ask beats
allow, and a rule beats the mode's default for the tool's kind. A compound command is judged by
each of its simple commands: one denied part denies the whole, and an allow rule covers it only
when it covers every part, none hides a command from view (`$(…)`, backticks), and none is a git
invocation that can run code of its choosing (`git -c core.fsmonitor=…`).
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from agent.config import Mode
from tools.base import Tool

Verdict = Literal["allow", "ask", "deny"]

# What each approval mode does with each kind of tool.
MODES: dict[Mode, dict[str, Verdict]] = {
    Mode.READ_ONLY: {"read": "allow", "meta": "allow", "edit": "deny", "shell": "deny", "mcp": "deny"},
    Mode.ASK: {"read": "allow", "meta": "allow", "edit": "ask", "shell": "ask", "mcp": "ask"},
    Mode.AUTO_EDIT: {"read": "allow", "meta": "allow", "edit": "allow", "shell": "ask", "mcp": "ask"},
    Mode.FULL_AUTO: {"read": "allow", "meta": "allow", "edit": "allow", "shell": "allow", "mcp": "allow"},
}

# Refused whatever the mode: publishing, privilege, and piping downloads into a shell.
DEFAULT_DENY = (
    "git push*",
    "sudo *",
    "su",
    "su *",
    "*curl *|*sh*",
    "*wget *|*sh*",
)

SEPARATORS = {";", "&&", "||", "|", "&", "|&", ";;", "(", ")"}
# Text that runs a command the split below cannot see.
HIDDEN_COMMANDS = ("$(", "`", "<(", ">(")
# git options that make it run a program or read another repository's config (whose fsmonitor,
# hooks or pager then run): -c core.fsmonitor=…, core.hooksPath, core.sshCommand, alias.x=!…
GIT_CODE_OPTIONS = ("-c", "--config-env", "--exec-path", "-C", "--git-dir", "--work-tree",
                    "--upload-pack", "--receive-pack", "--exec", "-u", "-x", "--extcmd", "--tool")
GIT_CODE_COMMANDS = ("submodule foreach", "bisect run", "filter-branch", "difftool", "mergetool")


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Policy:
    mode: Mode = Mode.ASK
    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = DEFAULT_DENY
    # Without a sandbox every command asks, whatever the mode and the allow rules say.
    sandboxed: bool = True

    def decide(self, tool: Tool, subject: str) -> Decision:
        default = MODES[self.mode][tool.kind]
        decision = Decision(default, f"{self.mode} mode {_VERBS[default]} {tool.kind} tools")
        if tool.kind == "shell":
            decision = self._command(subject.strip()) or decision
            if not self.sandboxed and decision.verdict == "allow":
                return Decision("ask", "there is no sandbox, so every command asks")
        elif tool.kind == "edit":
            decision = self._path(subject.strip().removeprefix("./")) or decision
        elif tool.kind == "mcp":
            decision = self._mcp(subject) or decision
        return decision

    def in_mode(self, mode: Mode, session_allow: tuple[str, ...] = ()) -> "Policy":
        """This policy in `mode`, with the rules the user allowed during the session. Plan mode is
        read-only without allow rules, so nothing can change the tree while planning."""
        if mode == Mode.PLAN:
            return dataclasses.replace(self, mode=Mode.READ_ONLY, allow=())
        return dataclasses.replace(self, mode=Mode(mode), allow=self.allow + session_allow)

    def _command(self, command: str) -> Decision | None:
        parts = simple_commands(command)
        for verdict, patterns in (("deny", self.deny), ("ask", self.ask)):
            for pattern in patterns:
                if any(fnmatchcase(text, pattern) for text in [command, *(parts or [])]):
                    return Decision(verdict, f"matches the {verdict} rule '{pattern}'")  # type: ignore[arg-type]
        if parts is None or not self.allow:
            return None
        for part in parts:
            if runs_chosen_code(part):
                return None
            if not any(fnmatchcase(part, pattern) for pattern in self.allow):
                return None
        return Decision("allow", "every part matches an allow rule")

    def _path(self, path: str) -> Decision | None:
        for verdict, patterns in (("deny", self.deny), ("ask", self.ask), ("allow", self.allow)):
            for pattern in patterns:
                if fnmatchcase(path, pattern):
                    return Decision(verdict, f"matches the {verdict} rule '{pattern}'")  # type: ignore[arg-type]
        return None


    def _mcp(self, tool_name: str) -> Decision | None:
        """Rules name an MCP server (`mcp:github`) or its tools (`mcp:github__create_issue`, `mcp:github__*`)."""
        names = [f"mcp:{tool_name}", f"mcp:{tool_name.split('__', 1)[0]}"]
        for verdict, patterns in (("deny", self.deny), ("ask", self.ask), ("allow", self.allow)):
            for pattern in patterns:
                if pattern.startswith("mcp:") and any(fnmatchcase(name, pattern) for name in names):
                    return Decision(verdict, f"matches the {verdict} rule '{pattern}'")  # type: ignore[arg-type]
        return None


def simple_commands(command: str) -> list[str] | None:
    """The simple commands of a command line, each re-joined; None when some are out of sight."""
    if any(mark in command for mark in HIDDEN_COMMANDS):
        return None
    lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: bash will refuse it too
        return None
    parts, words = [], []
    for token in [*tokens, ";"]:
        if token in SEPARATORS:
            if words:
                parts.append(shlex.join(words))
            words = []
        else:
            words.append(token)
    return parts


def runs_chosen_code(part: str) -> bool:
    """A git invocation that can be made to run a program named in its own arguments."""
    words = shlex.split(part)
    if not words or words[0] != "git":
        return False
    for word in words[1:]:
        if word.startswith("-") and any(word == o or word.startswith(o + "=") or
                                        (len(o) == 2 and word.startswith(o)) for o in GIT_CODE_OPTIONS):
            return True
    rest = " ".join(w for w in words[1:] if not w.startswith("-"))
    return any(rest.startswith(command) for command in GIT_CODE_COMMANDS)


_VERBS = {"allow": "allows", "ask": "asks before", "deny": "refuses"}
