"""The transcript as data. Widgets are made from entries and can be dropped and rebuilt at will,
which is what lets the transcript keep only the newest few hundred widgets mounted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["running", "ok", "error", "denied"]


@dataclass
class Entry:
    pass


@dataclass
class UserEntry(Entry):
    text: str
    images: list[str] = field(default_factory=list)  # what each attached image is, as shown


@dataclass
class AssistantEntry(Entry):
    text: str = ""
    reasoning: str = ""
    streaming: bool = True
    reasoning_expanded: bool = False


@dataclass
class PanelEntry(Entry):
    """A tool call, or a slash command's output: a title line and a body that folds away."""

    title: str
    body: str = ""
    # How to highlight the body: "diff", "bash", a language name, or None for plain text.
    lexer: str | None = None
    status: Status = "running"
    expanded: bool = False
    call_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class NoticeEntry(Entry):
    """Something heron itself says: help, an error with what to do, a warning."""

    text: str
    level: Literal["info", "warning", "error"] = "info"


def describe_call(name: str, arguments: dict[str, object]) -> str:
    for key in ("command", "path", "pattern"):
        if key in arguments:
            value = str(arguments[key]).strip().splitlines()[0] if str(arguments[key]).strip() else ""
            return f"{name}  {'$ ' if key == 'command' else ''}{value[:200]}"
    return name
