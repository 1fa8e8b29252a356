"""The plan/act loop: messages in, events out. It knows nothing of any user interface.

`run(task)` appends the user's message and steps until an ending: the model calls `finish`,
answers without calling a tool, reaches the step limit, or is interrupted. Endings are
exceptions caught in one place. History is append-only, so each request is a prefix of the next.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from agent.dispatch import Dispatcher
from agent.errors import Interrupted
from agent.events import AssistantTurn, PlanUpdated, Usage
from agent.interfaces import EventSink, ModelClient
from tools.base import TaskFinished


class StepLimitReached(Exception):
    pass


class Answered(Exception):
    """The model replied without calling a tool: its text is the answer."""


@dataclass(frozen=True)
class Outcome:
    status: str  # finished | answered | step_limit | interrupted
    summary: str


class Loop:
    def __init__(
        self,
        model: ModelClient,
        dispatcher: Dispatcher,
        system_prompt: str,
        emit: EventSink,
        max_steps: int,
        cancel: threading.Event | None = None,
        context_window: int | None = None,
        turn_context: Callable[[str], str | None] | None = None,
    ) -> None:
        self.model = model
        self.dispatcher = dispatcher
        self.emit = emit
        self.max_steps = max_steps
        self.cancel = cancel or threading.Event()
        self.context_window = context_window
        # Called at each user turn with the user's words: context to put before them (a refreshed
        # repo map), or None. Only user-turn boundaries may add context, so the cached prefix holds.
        self.turn_context = turn_context
        self.tools = dispatcher.schemas()  # fixed for the session: part of the cached prefix
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}]
        self.steps = 0

    def run(self, user_message: str) -> Outcome:
        context = self.turn_context(user_message) if self.turn_context else None
        content = f"{context}\n\n{user_message}" if context else user_message
        self.messages.append({"role": "user", "content": content})
        try:
            while True:
                self.step()
        except TaskFinished as e:
            return Outcome("finished", e.summary)
        except Answered as e:
            return Outcome("answered", str(e))
        except StepLimitReached:
            return Outcome("step_limit", f"stopped after {self.steps} steps (the --max-steps limit)")
        except (Interrupted, KeyboardInterrupt):
            return Outcome("interrupted", "interrupted by the user")

    def step(self) -> None:
        if self.steps >= self.max_steps:
            raise StepLimitReached()
        self._check_cancel()
        self.steps += 1
        turn = self.model.complete(self.messages, self.tools, self._emit_unless_cancelled)
        self.messages.append(turn.to_message())
        self.emit(AssistantTurn(
            step=self.steps, text=turn.text, reasoning=turn.reasoning,
            tool_calls=[c.to_message() for c in turn.tool_calls], finish_reason=turn.finish_reason,
        ))
        if turn.usage:
            self.emit(Usage(turn.usage.prompt_tokens, turn.usage.completion_tokens,
                            turn.usage.cached_tokens, self.context_window))
        if not turn.tool_calls:
            raise Answered(turn.text.strip())
        self._run_calls(turn.tool_calls)

    def _run_calls(self, calls: list[Any]) -> None:
        """Run each call and answer it; every call gets a tool message, even on an ending."""
        answered = 0
        try:
            for call in calls:
                self._check_cancel()
                try:
                    result = self.dispatcher.call(call, self.emit)
                except TaskFinished:
                    self._answer(call.id, "Task marked as finished.")
                    answered += 1
                    raise
                self._answer(call.id, result.output)
                answered += 1
                if "plan" in result.data:
                    self.emit(PlanUpdated(items=result.data["plan"]))
        finally:
            for call in calls[answered:]:
                self._answer(call.id, "(not run: the run ended before this call)")

    def _answer(self, call_id: str, output: str) -> None:
        self.messages.append({"role": "tool", "tool_call_id": call_id, "content": output})

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            self.cancel.clear()
            raise Interrupted("interrupted by the user")

    def _emit_unless_cancelled(self, event: Any) -> None:
        self._check_cancel()
        self.emit(event)
