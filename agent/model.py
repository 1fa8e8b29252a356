"""The OpenAI-protocol client: streaming, retries, reasoning, tool calls, usage."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import openai

from agent.errors import ContextOverflow, ServerError
from agent.events import ReasoningDelta, StreamRestarted, TextDelta
from agent.interfaces import EventSink

OVERFLOW_HINTS = ("context length", "context window", "maximum context", "too many tokens",
                  "exceeds the available context", "prompt is too long", "exceed_context_size")


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw JSON text the model wrote

    def to_message(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class TurnUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None


@dataclass
class Turn:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: TurnUsage | None = None

    def to_message(self) -> dict[str, Any]:
        """The assistant message for history; reasoning is kept so the template can show it again."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [c.to_message() for c in self.tool_calls]
        return message


class StreamBroken(Exception):
    """The connection failed after the stream had started."""


class OpenAIModel:
    """A ModelClient over the openai SDK, pointed at a local server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "sk-local",
        max_retries: int = 3,
        timeout: float = 600.0,
        temperature: float | None = None,
        max_output_tokens: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        self.base_url = base_url
        self.model = model
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens
        self.extra_body = extra_body or {}
        # The SDK retries connection errors, 429 and 5xx with exponential backoff.
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "sk-local", max_retries=max_retries, timeout=timeout
        )

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], emit: EventSink
    ) -> Turn:
        for attempt in range(self.max_retries + 1):
            try:
                return self._stream_once(messages, tools, emit)
            except StreamBroken as e:
                if attempt == self.max_retries:
                    raise ServerError(
                        f"the model server at {self.base_url} broke off the answer {attempt + 1} "
                        f"times ({e}); check the server's log"
                    ) from None
                emit(StreamRestarted(reason=str(e)))
                time.sleep(min(2**attempt * 0.5, 8.0))
        raise AssertionError("unreachable")

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = tools
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_output_tokens:
            request["max_tokens"] = self.max_output_tokens
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    def _stream_once(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], emit: EventSink
    ) -> Turn:
        try:
            stream = self.client.chat.completions.create(**self._request(messages, tools))
        except openai.APIError as e:
            raise self._server_error(e) from None
        turn = Turn()
        text = ThinkSplitter()
        calls: dict[int, dict[str, str]] = {}
        for chunk in _guarded(stream):
            if chunk.usage is not None:
                turn.usage = _usage(chunk)
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            delta = choice.delta
            if choice.finish_reason:
                turn.finish_reason = choice.finish_reason
            extra = delta.model_extra or {}
            reasoning = extra.get("reasoning_content") or extra.get("reasoning")
            if reasoning:
                turn.reasoning += reasoning
                emit(ReasoningDelta(reasoning))
            if delta.content:
                for is_thinking, piece in text.feed(delta.content):
                    _route(turn, emit, is_thinking, piece)
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
        if turn.finish_reason is None:
            # Every server ends a complete answer with a finish_reason; a stream that stops
            # without one was cut, and its tool calls may be half-written: never run them.
            raise StreamBroken("the stream ended before the answer was complete")
        for is_thinking, piece in text.flush():
            _route(turn, emit, is_thinking, piece)
        turn.tool_calls = [
            ToolCall(id=slot["id"] or f"call_{index}", name=slot["name"], arguments=slot["arguments"] or "{}")
            for index, slot in sorted(calls.items())
        ]
        return turn

    def _server_error(self, e: openai.APIError) -> ServerError:
        if isinstance(e, (openai.APIConnectionError, openai.APITimeoutError)):
            return unreachable(self.base_url)
        message = _error_message(e)
        if isinstance(e, openai.NotFoundError):
            return ServerError(
                f"the server at {self.base_url} does not serve model '{self.model}' ({message}); "
                f"set --model to one that `curl {self.base_url}/models` lists"
            )
        if any(hint in message.lower() for hint in OVERFLOW_HINTS):
            return ContextOverflow(f"the request did not fit the server's context window: {message}")
        status = getattr(e, "status_code", "?")
        return ServerError(f"the model server at {self.base_url} answered {status}: {message}")


def unreachable(base_url: str) -> ServerError:
    return ServerError(
        f"cannot reach the model server at {base_url}. Start one (`heron serve --print` shows "
        "how) or point --base-url at it."
    )


class ThinkSplitter:
    """Separates `<think>…</think>` inside streamed content from the answer, across chunk edges."""

    OPEN, CLOSE = "<think>", "</think>"

    def __init__(self) -> None:
        self.thinking = False
        self.pending = ""

    def feed(self, chunk: str) -> list[tuple[bool, str]]:
        self.pending += chunk
        out: list[tuple[bool, str]] = []
        while True:
            tag = self.CLOSE if self.thinking else self.OPEN
            i = self.pending.find(tag)
            if i != -1:
                if i:
                    out.append((self.thinking, self.pending[:i]))
                self.pending = self.pending[i + len(tag):]
                self.thinking = not self.thinking
                continue
            # Keep back a tail that could be the start of a tag split across chunks.
            keep = _partial_suffix(self.pending, tag)
            ready = self.pending[: len(self.pending) - keep]
            if ready:
                out.append((self.thinking, ready))
            self.pending = self.pending[len(ready):]
            return out

    def flush(self) -> list[tuple[bool, str]]:
        rest, self.pending = self.pending, ""
        return [(self.thinking, rest)] if rest else []


def _partial_suffix(text: str, tag: str) -> int:
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


def _route(turn: Turn, emit: EventSink, is_thinking: bool, piece: str) -> None:
    if is_thinking:
        turn.reasoning += piece
        emit(ReasoningDelta(piece))
    else:
        turn.text += piece
        emit(TextDelta(piece))


def _guarded(stream: Any) -> Iterator[Any]:
    """Iterate a stream, turning a connection that fails midway into StreamBroken."""
    iterator = iter(stream)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except (openai.APIError, OSError) as e:
            raise StreamBroken(type(e).__name__) from None
        except Exception as e:  # the HTTP library's own read errors
            if "httpx" not in type(e).__module__:
                raise
            raise StreamBroken(type(e).__name__) from None
        yield chunk


def _usage(chunk: Any) -> TurnUsage:
    usage = chunk.usage
    cached = None
    details = getattr(usage, "prompt_tokens_details", None)
    if details is not None and getattr(details, "cached_tokens", None) is not None:
        cached = details.cached_tokens
    timings = (chunk.model_extra or {}).get("timings") or {}
    if cached is None and "cache_n" in timings:
        cached = int(timings["cache_n"])
    return TurnUsage(usage.prompt_tokens or 0, usage.completion_tokens or 0, cached)


def _error_message(e: openai.APIError) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return e.message if hasattr(e, "message") else json.dumps(str(e))
