"""The typed events every front-end consumes; `heron fix --json` writes one per line.

Each event is a frozen dataclass; `to_json()` gives {"type": <snake_case name>, ...fields}.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.findings import Finding
from agent.interfaces import ApprovalRequest


class Status(StrEnum):
    """How a user turn ended."""

    FINISHED = "finished"  # the model called finish
    ANSWERED = "answered"  # the model replied without calling a tool
    STEP_LIMIT = "step_limit"
    INVALID_CALLS = "invalid_calls"  # too many invalid tool calls in a row
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Outcome:
    """How a user turn ended, and the model's summary (or why it stopped)."""

    status: Status
    summary: str


@dataclass(frozen=True)
class Event:
    @property
    def type(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self)}


@dataclass(frozen=True)
class SessionStarted(Event):
    """A run begins: where, against which server and model."""

    workspace: str
    base_url: str
    model: str
    task: str


@dataclass(frozen=True)
class TextDelta(Event):
    """A piece of the assistant's answer as it streams."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta(Event):
    """A piece of the model's reasoning as it streams; never the answer."""

    text: str


@dataclass(frozen=True)
class StreamRestarted(Event):
    """The request is being sent again (the stream broke, or the server could not parse the model's
    calls): discard the partial turn shown so far. reason says which, as a sentence."""

    reason: str


@dataclass(frozen=True)
class AssistantTurn(Event):
    """A finished model turn: its answer, reasoning and the tools it called."""

    step: int
    text: str
    reasoning: str
    tool_calls: list[dict[str, Any]]
    finish_reason: str | None


@dataclass(frozen=True)
class ToolStarted(Event):
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolFinished(Event):
    call_id: str
    name: str
    output: str
    is_error: bool
    # Extra, tool-specific data for display (an edit's diff, the plan's items).
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalRequested(Event):
    """The policy asked; the front-end answered (approved or not, with a reason)."""

    call_id: str
    name: str
    subject: str
    approved: bool
    reason: str


@dataclass(frozen=True)
class PlanUpdated(Event):
    items: list[dict[str, str]]


@dataclass(frozen=True)
class Usage(Event):
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None
    context_window: int | None
    # Streamed answers only: seconds to the first piece, and decoding speed after it.
    first_token_seconds: float | None = None
    tokens_per_second: float | None = None


@dataclass(frozen=True)
class ContextMeter(Event):
    """How full the window is (heron's own count) and how much of the last prompt the server's
    prefix cache reused (`cached_tokens` of `prompt_tokens`, None when the server does not say)."""

    used_tokens: int
    budget_tokens: int
    context_window: int
    prompt_tokens: int | None
    cached_tokens: int | None


@dataclass(frozen=True)
class Compacted(Event):
    """Older turns were replaced by a summary. reason: threshold, requested or overflow."""

    reason: str
    messages_dropped: int
    tokens_before: int
    tokens_after: int
    tokens_freed: int
    summary: str


@dataclass(frozen=True)
class SessionOpened(Event):
    """The run is recorded as a session; `heron fix --resume ID` continues it."""

    session_id: str
    path: str
    resumed: bool


@dataclass(frozen=True)
class Warning(Event):  # noqa: A001 - the event's name in the JSONL schema
    message: str


@dataclass(frozen=True)
class TestRun(Event):
    """The configured test command ran after the model finished."""

    command: str
    passed: bool
    exit_code: int
    output: str


@dataclass(frozen=True)
class Committed(Event):
    """heron committed the agent's changes (`--commit`, `--branch`, `--worktree`)."""

    sha: str
    branch: str
    subject: str
    worktree: str


@dataclass(frozen=True)
class Done(Event):
    """The run ended. status: fixed, not_fixed or interrupted (`heron fix`)."""

    status: str
    summary: str


# Events of an interactive session: what a front-end learns only from the core.


@dataclass(frozen=True)
class ApprovalNeeded(Event):
    """The policy asks the user; the core waits for an Answer command with this call_id."""

    request: ApprovalRequest


@dataclass(frozen=True)
class TurnFailed(Event):
    """heron's own machinery failed during a turn. server: the model server did (the history is kept)."""

    message: str
    server: bool


@dataclass(frozen=True)
class TurnEnded(Event):
    """A submitted message was worked on to an ending."""

    outcome: Outcome


@dataclass(frozen=True)
class CommandDone(Event):
    """A session command (undo, commit, compact, map, models) is done: what to tell the user.
    level: info, warning or error; title: show `message` as a panel under this title."""

    command: str
    message: str
    level: str = "info"
    title: str = ""


@dataclass(frozen=True)
class ModeChanged(Event):
    """The approval mode the policy applies from the next step (or plan)."""

    mode: str


@dataclass(frozen=True)
class FindingReported(Event):
    """A reviewing model reported a problem on a changed line."""

    finding: Finding


@dataclass(frozen=True)
class ModelSwitched(Event):
    model: str  # the served model the next request names
