"""The messages the app's worker thread and widgets send up; dataclasses, all in one place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from textual.message import Message

from agent.context.transcript import Transcript
from agent.core.build import Runtime
from agent.core.loop import Outcome
from agent.errors import HeronError
from agent.events import Event
from agent.interfaces import Approval, ApprovalRequest


@dataclass
class Drain(Message):
    """Messages from the worker are waiting in the channel."""


@dataclass
class AgentEvent(Message):
    """One event of the loop, posted from the worker thread."""

    event: Event


@dataclass
class ApprovalNeeded(Message):
    """The policy asked; `answer` unblocks the worker thread waiting for the user."""

    request: ApprovalRequest
    answer: Callable[[Approval], None]


@dataclass
class RunEnded(Message):
    outcome: Outcome
    mode: str


@dataclass
class RunFailed(Message):
    """heron's own machinery failed during a run (the server died, no sandbox)."""

    error: HeronError


@dataclass
class Connected(Message):
    runtime: Runtime
    session: Transcript | None  # the session it records into: a stale connect is dropped


@dataclass
class JobEnded(Message):
    """A slash command's background job (/commit, /compact, /undo, /map) finished; what to say."""

    said: str
    level: str = "info"
    panel: str = ""  # a long result (the map) shown in a folded panel under this title


@dataclass
class ConnectFailed(Message):
    error: HeronError


@dataclass
class Submitted(Message):
    """The user sent the input box's text."""

    text: str
