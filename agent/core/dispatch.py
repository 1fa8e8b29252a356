"""Runs the model's tool calls: find the tool, check its arguments, ask the policy, run it."""

from __future__ import annotations

import json
from typing import Any, Callable

from agent.core.policy import Policy
from agent.core.preview import approval_preview
from agent.events import ApprovalRequested, ToolFinished, ToolStarted, Warning
from agent.interfaces import Answer, Approval, ApprovalRequest, Approver, EventSink
from agent.model.client import ToolCall
from tools.base import InvalidArguments, TaskFinished, Tool, ToolContext, ToolError, ToolResult

FINISHED = "Task marked as finished."


class InvalidCall(ToolError):
    """The call itself is wrong: an unknown tool, or arguments that are not its schema's."""


class Dispatcher:
    def __init__(
        self,
        tools: tuple[Tool, ...],
        policy: Policy,
        approver: Approver,
        ctx: ToolContext,
        restore: Callable[[Any], Any] | None = None,
        more_tools: Callable[[], list[Tool]] | None = None,
    ) -> None:
        self.own_tools = tools
        self.tools = {t.name: t for t in tools}
        # Tools from elsewhere (MCP servers), asked for again at each user turn.
        self.more_tools = more_tools
        self.policy = policy
        self.approver = approver
        self.ctx = ctx
        # Invalid calls since the last valid one, and the last one's error, for the loop to stop on.
        self.invalid_in_a_row = 0
        self.last_invalid = ""
        # The egress's way back: the placeholders of secrets in arguments become the real values.
        self.restore = restore or (lambda arguments: arguments)

    def refresh(self) -> bool:
        """Take in the tools that came or went since the last user turn; whether any did."""
        if self.more_tools is None:
            return False
        own = {t.name for t in self.own_tools}
        tools = {t.name: t for t in self.own_tools} | {t.name: t for t in self.more_tools() if t.name not in own}
        changed = list(tools) != list(self.tools)
        self.tools = tools
        return changed

    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def call(self, call: ToolCall, emit: EventSink) -> ToolResult:
        """Run one call and return its result; the tool's own failures become error text.

        TaskFinished from the finish tool propagates to the loop, after its tool_finished event:
        every tool_started has one.
        """
        arguments = self.restore(_parse_arguments(call.arguments))
        emit(ToolStarted(call.id, call.name, _printable(arguments) if isinstance(arguments, dict) else {}))
        try:
            result = self._run(call, arguments, emit)
            self.invalid_in_a_row = 0
        except InvalidCall as e:
            self.invalid_in_a_row += 1
            self.last_invalid = str(e)
            result = ToolResult(str(e), is_error=True)
        except ToolError as e:
            self.invalid_in_a_row = 0
            result = ToolResult(str(e), is_error=True)
        except TaskFinished:
            self.invalid_in_a_row = 0
            emit(ToolFinished(call.id, call.name, FINISHED, False, {}))
            raise
        emit(ToolFinished(call.id, call.name, result.output, result.is_error, result.data))
        for warning in result.warnings:
            emit(Warning(warning))
        return result

    def _run(self, call: ToolCall, arguments: Any, emit: EventSink) -> ToolResult:
        tool = self.tools.get(call.name)
        if tool is None:
            raise InvalidCall(f"unknown tool '{call.name}'; the tools are: {', '.join(self.tools)}")
        if not isinstance(arguments, dict):
            raise InvalidCall(f"arguments for {call.name} must be a JSON object; got: {call.arguments[:200]}")
        if problem := _unusable_text(arguments):
            raise InvalidCall(f"bad arguments for {call.name}: {problem}")
        try:
            args = tool.parse(arguments)
        except InvalidArguments as e:
            raise InvalidCall(f"bad arguments for {call.name}: {e}") from None
        subject = tool.subject(args)
        decision = self.policy.decide(tool, subject)
        if decision.verdict == "deny":
            raise ToolError(f"refused: {subject or call.name} ({decision.reason})")
        if decision.verdict == "ask":
            preview = approval_preview(self.ctx.workspace, tool, arguments)
            answer = self.approver(ApprovalRequest(call.id, tool.name, tool.kind, subject, preview))
            emit(ApprovalRequested(call.id, tool.name, subject, answer.approved, answer.reason))
            if not answer.approved:
                why = f": {answer.reason}" if answer.reason else ""
                raise ToolError(f"the user did not approve this {tool.kind} call{why}")
        try:
            return tool.run(args, self.ctx)
        except (OSError, ValueError) as e:
            # What the filesystem or a library refused for these arguments (a path that changed
            # underneath, a name too long): the model's to hear and work around, not a crash.
            raise ToolError(f"{call.name} failed: {e}") from None


def deny_all(request: ApprovalRequest) -> Approval:
    """The approver of a run nobody watches: what the policy would ask is refused."""
    return Approval(Answer.NO, "nobody can approve it in this headless run; the user can allow it with --yes")


def _parse_arguments(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except json.JSONDecodeError:
        return text


def _unusable_text(value: Any, where: str = "") -> str:
    """Why a string in the arguments cannot be used (a NUL byte, an unpaired surrogate), or ""."""
    if isinstance(value, str):
        if "\0" in value:
            return f"{where or 'an argument'} contains a NUL byte"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where or 'an argument'} is not valid text (an unpaired surrogate)"
        return ""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if problem := _unusable_text(item, f"{where}.{key}" if where else str(key)):
            return problem
    return ""


def _printable(value: Any) -> Any:
    """The arguments with unpaired surrogates shown as U+FFFD, for events that are written out."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    return [_printable(v) for v in value] if isinstance(value, list) else value


