"""The plan/act loop: messages in, events out. It knows nothing of any user interface.

`run(task)` appends the user's message and steps until an ending: the model calls `finish`,
answers without calling a tool, reaches the step limit, or is interrupted. Endings are
exceptions caught in one place. The history lives in a Context (agent/context/history.py): append-only,
so each request is a prefix of the next, until a compaction at the threshold, on request, or when
the server says the request did not fit.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from agent.context.history import DEFAULT_WINDOW, Budget, Context
from agent.core.dispatch import FINISHED, Dispatcher
from agent.errors import ContextOverflow, Interrupted
from agent.events import AssistantTurn, Compacted, Outcome, PlanUpdated, Status, Usage, Warning
from agent.images import Picture
from agent.interfaces import EventSink, ModelClient, TurnObserver
from agent.model.client import Turn
from tools.base import TaskFinished

# Invalid tool calls in a row (unknown tool, arguments not matching the schema) before the run
# stops: each is sent back as an error the model can correct, but a model that keeps failing is
# not going to.
MAX_INVALID_CALLS = 4


class StepLimitReached(Exception):
    pass


class InvalidCallsLimit(Exception):
    """The model made MAX_INVALID_CALLS invalid tool calls in a row."""


class Answered(Exception):
    """The model replied without calling a tool: its text is the answer."""


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
        observer: TurnObserver | None = None,
        context: Context | None = None,
        between_steps: Callable[[], None] | None = None,
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
        self.observer = observer
        # The session's commands (mode, model, pins) are applied here, between steps.
        self.between_steps = between_steps
        self.context = context or Context(
            system_prompt, dispatcher.schemas(), Budget(context_window or DEFAULT_WINDOW), dispatcher.ctx.outputs)
        self.steps = 0

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.context.messages

    def run(self, user_message: str, pictures: tuple[Picture, ...] = ()) -> Outcome:
        """One user turn; the observer sees its boundaries even when it ends in an error."""
        if self.observer is None:
            return self._run(user_message, pictures)
        try:
            self.observer.begin_turn(user_message)  # may wait for another heron's turn in this tree
        except Interrupted:
            self.cancel.clear()
            return Outcome(Status.INTERRUPTED, "interrupted by the user")
        summary = "the turn ended in an error"
        try:
            outcome = self._run(user_message, pictures)
            summary = outcome.summary
            return outcome
        finally:
            self.observer.end_turn(summary)

    def _run(self, user_message: str, pictures: tuple[Picture, ...] = ()) -> Outcome:
        if self.dispatcher.refresh():  # only at a user turn may the tools change: the prefix holds
            self.context.set_tools(self.dispatcher.schemas())
        if pictures and not self.model.takes_images():
            self.emit(Warning(f"the model server takes no images; the {len(pictures)} attached were not sent "
                              "(llama-server needs the model's --mmproj file; vLLM a vision model)"))
            pictures = ()
        self.context.add_user_turn(user_message, self.turn_context(user_message) if self.turn_context else None,
                                   pictures)
        try:
            while True:
                self.step()
        except TaskFinished as e:
            return Outcome(Status.FINISHED, e.summary)
        except Answered as e:
            return Outcome(Status.ANSWERED, str(e))
        except StepLimitReached:
            return Outcome(Status.STEP_LIMIT, f"stopped after {self.steps} steps (the --max-steps limit)")
        except InvalidCallsLimit as e:
            return Outcome(Status.INVALID_CALLS, str(e))
        except (Interrupted, KeyboardInterrupt):
            return Outcome(Status.INTERRUPTED, "interrupted by the user")

    def step(self) -> None:
        if self.steps >= self.max_steps:
            raise StepLimitReached()
        if self.between_steps is not None:
            self.between_steps()
        self._check_cancel()
        self.steps += 1
        if self.context.over_threshold():
            self.compact("threshold")
        turn = self._complete()
        self.context.append(turn.to_message())
        self.emit(AssistantTurn(
            step=self.steps, text=turn.text, reasoning=turn.reasoning,
            tool_calls=[c.to_message() for c in turn.tool_calls], finish_reason=turn.finish_reason,
        ))
        if turn.usage:
            u = turn.usage
            self.emit(Usage(u.prompt_tokens, u.completion_tokens, u.cached_tokens, self.context_window,
                            u.first_token_seconds, u.tokens_per_second))
        self.emit(self.context.meter(turn.usage))
        if not turn.tool_calls:
            raise Answered(turn.text.strip())
        self._run_calls(turn.tool_calls)
        if self.dispatcher.invalid_in_a_row >= MAX_INVALID_CALLS:
            raise InvalidCallsLimit(
                f"stopped: the model made {self.dispatcher.invalid_in_a_row} invalid tool calls in a row "
                f"(the last: {self.dispatcher.last_invalid}); a model or server that writes calls "
                "correctly is needed (`heron doctor` checks)"
            )

    def _run_calls(self, calls: list[Any]) -> None:
        """Run each call and answer it; every call gets a tool message, even on an ending."""
        answered = 0
        pictures: list[Picture] = []
        try:
            for call in calls:
                self._check_cancel()
                try:
                    result = self.dispatcher.call(call, self.emit)
                except TaskFinished:
                    self._answer(call.id, FINISHED)
                    answered += 1
                    raise
                shown = result.pictures if result.pictures and self.model.takes_images() else []
                pictures += shown
                unseen = len(result.pictures) - len(shown)
                self._answer(call.id, result.output + (f"\n({unseen} image(s) not shown: the model server "
                                                       "takes no images)" if unseen else ""))
                answered += 1
                if "plan" in result.data:
                    self.emit(PlanUpdated(items=result.data["plan"]))
        finally:
            for call in calls[answered:]:
                self._answer(call.id, "(not run: the run ended before this call)")
        if pictures:
            self.context.add_pictures(f"The {len(pictures)} image(s) the tool calls above returned:", pictures)

    def _answer(self, call_id: str, output: str) -> None:
        self.context.add_tool_result(call_id, output)

    def compact(self, reason: str = "requested") -> Compacted | None:
        """Summarize the older turns now (also the TUI's /compact); None when there are none."""
        edit_tools = frozenset(t.name for t in self.dispatcher.tools.values() if t.kind == "edit")
        event = self.context.compact(self.model, reason, self.dispatcher.ctx.plan, edit_tools)
        if event:
            self.emit(event)
            self.emit(self.context.meter(None))
        return event

    def pin(self, fact: str) -> None:
        """Keep a fact across compactions (the TUI's /pin)."""
        self.context.pin(fact)

    def _complete(self) -> Turn:
        """One model turn; a request the server found too long is compacted and sent once more."""
        try:
            return self.model.complete(self.messages, self.context.tools, self._emit_unless_cancelled)
        except ContextOverflow:
            if self.compact("overflow") is None:
                raise
            return self.model.complete(self.messages, self.context.tools, self._emit_unless_cancelled)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            self.cancel.clear()
            raise Interrupted("interrupted by the user")

    def _emit_unless_cancelled(self, event: Any) -> None:
        self._check_cancel()
        self.emit(event)
