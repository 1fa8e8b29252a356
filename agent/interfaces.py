"""The few interfaces everything meets: model client, event sink, approver."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Approval:
    approved: bool
    reason: str = ""


class Approver(Protocol):
    """A front-end's answer when the policy says ask."""

    def __call__(self, request: ApprovalRequest) -> Approval: ...


class TurnObserver(Protocol):
    """Told when each user turn begins and ends (checkpoints for undo)."""

    def begin_turn(self, task: str) -> None: ...

    def end_turn(self, summary: str) -> None: ...
