"""The permission policy: approval mode plus allow / ask / deny rules. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from tools.base import Tool

Verdict = Literal["allow", "ask", "deny"]

# What each approval mode does with each kind of tool.
MODES: dict[str, dict[str, Verdict]] = {
    "read-only": {"read": "allow", "meta": "allow", "edit": "deny", "shell": "deny"},
    "ask": {"read": "allow", "meta": "allow", "edit": "ask", "shell": "ask"},
    "auto-edit": {"read": "allow", "meta": "allow", "edit": "allow", "shell": "ask"},
    "full-auto": {"read": "allow", "meta": "allow", "edit": "allow", "shell": "allow"},
}

# Refused whatever the mode: publishing, privilege, and piping downloads into a shell.
DEFAULT_DENY = (
    "git push*",
    "sudo *",
    "su *",
    "*curl *|*sh*",
    "*wget *|*sh*",
)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class Policy:
    mode: str = "ask"
    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = DEFAULT_DENY

    def decide(self, tool: Tool, subject: str) -> Decision:
        """Deny beats ask beats allow; rules beat the mode's default for the tool's kind."""
        if tool.kind in ("edit", "shell"):
            for verdict, patterns in (("deny", self.deny), ("ask", self.ask), ("allow", self.allow)):
                for pattern in patterns:
                    if fnmatchcase(subject.strip(), pattern):
                        return Decision(verdict, f"matches the {verdict} rule '{pattern}'")  # type: ignore[arg-type]
        verdict = MODES[self.mode][tool.kind]
        return Decision(verdict, f"{self.mode} mode {_VERBS[verdict]} {tool.kind} tools")


_VERBS = {"allow": "allows", "ask": "asks before", "deny": "refuses"}
