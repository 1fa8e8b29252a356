"""The few interfaces everything meets: model client, event sink, approver, and the approval answers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from agent.events import Event
    from agent.model.client import Turn

EventSink = Callable[["Event"], None]


class ModelClient(Protocol):
    """Sends the conversation and the tool schemas; returns one assistant turn."""

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], emit: EventSink
    ) -> "Turn": ...

    def takes_images(self) -> bool:
        """Whether image parts may be sent to this model."""
        ...


@dataclass(frozen=True)
class ApprovalRequest:
    call_id: str
    tool: str
    kind: str
    subject: str
    # The diff of an edit, or the command of a shell call, for the front-end to show.
    preview: str


class Answer(StrEnum):
    """What a user (or a headless run's standing order) answers an approval request."""

    YES = "yes"
    NO = "no"
    ALWAYS = "always"  # yes, and allow calls matching `pattern` for the rest of the session
    STOP = "stop"  # no, and interrupt the run


@dataclass(frozen=True)
class Approval:
    answer: Answer
    reason: str = ""
    pattern: str = ""  # with ALWAYS: the rule to allow from now on

    @property
    def approved(self) -> bool:
        return self.answer in (Answer.YES, Answer.ALWAYS)


class Approver(Protocol):
    """A front-end's answer when the policy says ask."""

    def __call__(self, request: ApprovalRequest) -> Approval: ...


class TurnObserver(Protocol):
    """Told when each user turn begins and ends (checkpoints for undo)."""

    def begin_turn(self, task: str) -> None: ...

    def end_turn(self, summary: str) -> None: ...
