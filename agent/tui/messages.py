"""The messages the app's worker threads and widgets send up; dataclasses, all in one place."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from agent.core.session import Session, Transcript
from agent.errors import HeronError
from agent.events import Event


@dataclass
class Drain(Message):
    """Events of the core are waiting in the channel."""


@dataclass
class AgentEvent(Message):
    """One event of the core, posted from its thread."""

    event: Event


@dataclass
class Connected(Message):
    session: Session
    recording: Transcript | None  # the transcript it records into: a stale connect is dropped


@dataclass
class ConnectFailed(Message):
    error: HeronError


@dataclass
class Submitted(Message):
    """The user sent the input box's text."""

    text: str
