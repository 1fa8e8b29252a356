"""The OpenAI-protocol client: streaming, retries, reasoning, tool calls, usage."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import openai

from agent.errors import ContextOverflow, ServerError
from agent.events import ReasoningDelta, StreamRestarted, TextDelta
from agent.events import Warning as WarningEvent
from agent.interfaces import EventSink
from agent.model.retry import backoff, retry_delay
from agent.model.toolcalls import (
    ProseGate,
    is_json_object,
    normalize_arguments,
    partial_suffix,
    recover_calls,
    text_protocol_messages,
)
from agent.model.vision import takes_images

OVERFLOW_HINTS = ("context length", "context window", "maximum context", "too many tokens",
                  "exceeds the available context", "prompt is too long", "exceed_context_size")
# How servers say they take no `tools`: llama-server without --jinja, vLLM without
# --enable-auto-tool-choice, Ollama with a model whose template has no tools, and others.
TOOLS_REJECTED_HINTS = ("tools param requires", "enable-auto-tool-choice", "does not support tools",
                        "tools are not supported", "tool calling is not supported",
                        "tool use is not supported")
# How llama-server ends an answer whose tool-call markup its parser could not read: a slip of the
# model, not of the server. The same request with tool_choice "none" renders the same prompt (so
# the prefix cache still applies) and returns the raw text, from which heron recovers the calls.
UNPARSED_CALLS_HINTS = ("does not match the expected", "failed to parse input at pos")


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # the raw JSON text the model wrote

    def to_message(self) -> dict[str, Any]:
        # Servers parse the arguments of the calls in the history again, and llama-server refuses
        # the whole request when they are not JSON: arguments past repair (an answer cut off
        # mid-call) are kept as {}; the call's tool answer quotes what the model wrote.
        arguments = self.arguments if is_json_object(self.arguments) else "{}"
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": arguments}}


@dataclass
class TurnUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None
    # Seconds from the request to the first piece of the answer (streamed answers only), and to
    # its end: the prompt's processing time, and the decoding speed after it.
    first_token_seconds: float | None = None
    seconds: float | None = None

    @property
    def tokens_per_second(self) -> float | None:
        if self.first_token_seconds is None or self.seconds is None or self.completion_tokens < 2:
            return None
        decoding = self.seconds - self.first_token_seconds
        # The first token came with the first piece; the rest took the decoding time.
        return (self.completion_tokens - 1) / decoding if decoding > 0 else None


@dataclass
class Turn:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: TurnUsage | None = None
    # The calls were recovered from text the model wrote, not sent as the protocol's tool_calls.
    recovered: bool = False

    def to_message(self) -> dict[str, Any]:
        """The assistant message for history; reasoning is kept so the template can show it again."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.reasoning:
            message["reasoning_content"] = self.reasoning
        if self.tool_calls:
            message["tool_calls"] = [c.to_message() for c in self.tool_calls]
        return message


Message = dict[str, Any]
Egress = Callable[[list[Message], list[dict[str, Any]]], tuple[list[Message], list[dict[str, Any]]]]


def _unchanged(messages: list[Message], tools: list[dict[str, Any]]) -> tuple[list[Message], list[dict[str, Any]]]:
    return messages, tools


class StreamBroken(Exception):
    """The connection failed after the stream had started, or the server ended it with an error."""


class UnparsedCalls(Exception):
    """The server could not parse the tool calls the model wrote (its message is the argument)."""


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
        stream: bool = True,
        text_protocol: bool = False,
        server_kind: str = "openai",
        egress: Egress | None = None,
    ) -> None:
        self.base_url = base_url
        self.server_kind = server_kind
        self._api_key = api_key or "sk-local"
        self._takes_images: bool | None = None
        self.model = model
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens
        self.extra_body = extra_body or {}
        self.stream = stream
        # Tools described in the system prompt instead of sent as `tools`; switched on for the
        # rest of the session when the server rejects `tools`.
        self.text_protocol = text_protocol
        self._recovered_ids = itertools.count(1)
        # Every request passes it just before it is sent (agent/core/egress.py, given by the factory).
        self.egress = egress or _unchanged
        # heron retries itself (agent/model/retry.py), so that each retry is shown as it happens.
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "sk-local", max_retries=0, timeout=timeout)

    def takes_images(self) -> bool:
        """Whether the server takes image parts; asked once, when the first image is to be sent."""
        if self._takes_images is None:
            self._takes_images = takes_images(self.base_url, self.server_kind, self.model, self._api_key)
        return self._takes_images

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], emit: EventSink
    ) -> Turn:
        messages, tools = self.egress(messages, tools)
        try:
            return self._with_retries(messages, tools, emit, server_parses=True)
        except UnparsedCalls as e:
            emit(StreamRestarted(reason=f"the server could not read the model's tool calls ({e}); "
                                        "asking again for the plain answer"))
            return self._with_retries(messages, tools, emit, server_parses=False)

    def _with_retries(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], emit: EventSink,
                      server_parses: bool) -> Turn:
        for attempt in range(self.max_retries + 1):
            try:
                return self._once(messages, tools, emit, server_parses)
            except StreamBroken as e:
                if attempt == self.max_retries:
                    raise ServerError(
                        f"the model server at {self.base_url} broke off the answer {attempt + 1} "
                        f"times ({e}); check the server's log"
                    ) from None
                emit(StreamRestarted(reason=f"the stream broke ({e}); retrying"))
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    def _create(self, request: dict[str, Any], emit: EventSink) -> Any:
        """Send the request, again after a failure worth retrying; each retry is an event."""
        for attempt in range(self.max_retries + 1):
            try:
                return self.client.chat.completions.create(**request)
            except openai.APIError as e:
                # A refusal of the tools or of the model's calls is the same every time: handled above.
                delay = None if attempt == self.max_retries or unparsed_calls(e) or rejects_tools(e) \
                    else retry_delay(e, attempt)
                if delay is None:
                    raise
                status = getattr(e, "status_code", None)
                what = (f"answered {status} ({_error_message(e)})" if status
                        else f"could not be reached ({type(e).__name__})")
                emit(StreamRestarted(reason=f"the model server {what}; sending the request again in "
                                            f"{delay:.1f} s (retry {attempt + 1} of {self.max_retries})"))
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _request(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                 server_parses: bool = True) -> dict[str, Any]:
        if tools and self.text_protocol:
            messages, tools = text_protocol_messages(messages, tools), []
        request: dict[str, Any] = {"model": self.model, "messages": messages, "stream": self.stream}
        if self.stream:
            request["stream_options"] = {"include_usage": True}
        if tools:
            request["tools"] = tools
            if not server_parses:
                request["tool_choice"] = "none"
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_output_tokens:
            request["max_tokens"] = self.max_output_tokens
        if self.extra_body:
            request["extra_body"] = self.extra_body
        return request

    def _once(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], emit: EventSink,
              server_parses: bool = True) -> Turn:
        started = time.monotonic()
        try:
            response = self._create(self._request(messages, tools, server_parses), emit)
        except openai.APIError as e:
            if server_parses and tools and unparsed_calls(e):
                raise UnparsedCalls(_error_message(e)) from None
            if tools and not self.text_protocol and rejects_tools(e):
                self.text_protocol = True
                emit(WarningEvent(
                    f"the server at {self.base_url} does not take tools ({_error_message(e)}); "
                    "heron describes them in the prompt and reads calls from the text instead"
                ))
                return self._once(messages, tools, emit)
            raise self._server_error(e) from None
        reader = TurnReader(emit, started, tools)
        try:
            native = self._read_stream(response, reader) if self.stream else self._read_whole(response, reader)
        except UnparsedCalls:
            if server_parses and tools:
                raise
            raise StreamBroken("the server could not read the model's answer") from None
        turn = reader.turn
        reader.flush()
        if turn.usage is not None:
            turn.usage.first_token_seconds = reader.first_piece
            turn.usage.seconds = time.monotonic() - started
        self._attach_calls(turn, native, tools)
        reader.release(turn.text)
        return turn

    def _read_stream(self, stream: Any, reader: "TurnReader") -> list[dict[str, str]]:
        turn = reader.turn
        calls: dict[int, dict[str, Any]] = {}
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
            thought = extra.get("reasoning_content") or extra.get("reasoning") or ""
            if delta.content or delta.tool_calls or thought:
                reader.arrived()
            reader.reasoning(thought)
            reader.content(delta.content or "")
            for tc in delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": []})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"].append(tc.function.arguments)
        if turn.finish_reason is None:
            # Every server ends a complete answer with a finish_reason; a stream that stops
            # without one was cut, and its tool calls may be half-written: never run them.
            raise StreamBroken("the stream ended before the answer was complete")
        return [{"id": slot["id"] or f"call_{index}", "name": slot["name"], "arguments": "".join(slot["arguments"])}
                for index, slot in sorted(calls.items())]

    def _read_whole(self, response: Any, reader: "TurnReader") -> list[dict[str, str]]:
        turn = reader.turn
        if response.usage is not None:
            turn.usage = _usage(response)
        if not response.choices:
            raise ServerError(f"the model server at {self.base_url} sent an answer with no choices")
        choice = response.choices[0]
        message = choice.message
        turn.finish_reason = choice.finish_reason or "stop"
        extra = message.model_extra or {}
        reader.reasoning(extra.get("reasoning_content") or extra.get("reasoning") or "")
        reader.content(message.content or "")
        return [
            {"id": tc.id or f"call_{index}", "name": tc.function.name or "", "arguments": tc.function.arguments or ""}
            for index, tc in enumerate(message.tool_calls or [])
        ]

    def _attach_calls(self, turn: Turn, native: list[dict[str, str]], tools: list[dict[str, Any]]) -> None:
        """Native calls with their arguments repaired; else calls written as text, their markup
        taken out of it: in the answer, or in the reasoning when no answer follows it (a call
        drafted while thinking and then dropped for a written answer is not run)."""
        if native:
            turn.tool_calls = [ToolCall(c["id"], c["name"], normalize_arguments(c["arguments"])) for c in native]
            return
        if not tools:
            return
        for part in ("text", "reasoning") if not turn.text.strip() else ("text",):
            found = recover_calls(getattr(turn, part), tools)
            if found.calls:
                setattr(turn, part, found.text)
                turn.tool_calls = [ToolCall(f"call_text_{next(self._recovered_ids)}", c.name, c.arguments)
                                   for c in found.calls]
                turn.recovered = True
                return

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


def rejects_tools(e: openai.APIError) -> bool:
    """The server refused the request because it carried `tools`."""
    message = _error_message(e).lower()
    return getattr(e, "status_code", None) in (400, 422, 500, 501) and any(h in message for h in TOOLS_REJECTED_HINTS)


def unparsed_calls(e: openai.APIError) -> bool:
    """The server refused the model's own answer because its tool-call markup did not parse."""
    message = _error_message(e).lower()
    return any(hint in message for hint in UNPARSED_CALLS_HINTS)


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
            keep = partial_suffix(self.pending, tag)
            ready = self.pending[: len(self.pending) - keep]
            if ready:
                out.append((self.thinking, ready))
            self.pending = self.pending[len(ready):]
            return out

    def flush(self) -> list[tuple[bool, str]]:
        rest, self.pending = self.pending, ""
        return [(self.thinking, rest)] if rest else []


class TurnReader:
    """Builds a Turn from pieces of reasoning and content, emitting them as they come.

    `<think>` in the content goes to the reasoning. The answer is shown only as far as a
    `ProseGate` says it is surely prose, so a call written as text is never shown, and what is
    shown while streaming, in any pieces, is what the whole answer shows; `release` shows what is
    left of the answer once the calls are taken out. Pieces are kept in lists and joined once, so
    a long answer streamed a token at a time costs linear time.
    """

    def __init__(self, emit: EventSink, started: float | None = None,
                 tools: list[dict[str, Any]] | None = None) -> None:
        self.emit = emit
        self.started = started
        self.first_piece: float | None = None  # seconds from `started` to the first piece
        self.turn = Turn()
        self.splitter = ThinkSplitter()
        self.gate = ProseGate(tools or [])
        self.text: list[str] = []
        self.thought: list[str] = []
        self.shown: list[str] = []
        self.shown_to = 0  # offset in the answer up to which it was shown or skipped as space
        self.unshown: list[str] = []  # the answer from shown_to on

    def arrived(self) -> None:
        """A piece of the answer (text, reasoning or a call) came in."""
        if self.first_piece is None and self.started is not None:
            self.first_piece = time.monotonic() - self.started

    def reasoning(self, text: str) -> None:
        if text:
            self.thought.append(text)
            self.emit(ReasoningDelta(text))

    def content(self, text: str) -> None:
        for is_thinking, piece in self.splitter.feed(text) if text else []:
            self._piece(is_thinking, piece)

    def flush(self) -> None:
        """The stream is over: the turn gets its whole text and reasoning."""
        for is_thinking, piece in self.splitter.flush():
            self._piece(is_thinking, piece)
        self.turn.text = "".join(self.text)
        self.turn.reasoning = "".join(self.thought)

    def release(self, final_text: str) -> None:
        """Show the rest of the answer as it stands once the calls are taken out."""
        shown, final = "".join(self.shown), final_text.lstrip()
        if final.startswith(shown) and len(final) > len(shown):
            self.emit(TextDelta(final[len(shown):]))

    def _piece(self, is_thinking: bool, piece: str) -> None:
        if is_thinking:
            self.reasoning(piece)
            return
        self.text.append(piece)
        self.unshown.append(piece)
        safe = self.gate.feed(piece)
        if safe <= self.shown_to:
            return
        unseen = "".join(self.unshown)
        ready = unseen[: safe - self.shown_to]
        if not self.shown:  # the answer never starts with space
            lead = len(ready) - len(ready.lstrip())
            unseen, ready, self.shown_to = unseen[lead:], ready[lead:], self.shown_to + lead
        # Trailing space waits for what follows: it is dropped if a call comes next.
        ready = ready.rstrip()
        if ready:
            self.shown.append(ready)
            self.emit(TextDelta(ready))
            self.shown_to += len(ready)
            unseen = unseen[len(ready):]
        self.unshown = [unseen]


def _guarded(stream: Any) -> Iterator[Any]:
    """Iterate a stream, turning a connection that fails midway into StreamBroken."""
    iterator = iter(stream)
    while True:
        try:
            chunk = next(iterator)
        except StopIteration:
            return
        except openai.APIError as e:
            # An error event in the stream (llama-server sends one when it cannot finish the
            # answer) carries the server's reason: keep it for the user.
            if unparsed_calls(e):
                raise UnparsedCalls(_error_message(e)) from None
            reason = _error_message(e) if isinstance(getattr(e, "body", None), dict) else ""
            raise StreamBroken(f"{type(e).__name__}: {reason}" if reason else type(e).__name__) from None
        except OSError as e:
            raise StreamBroken(type(e).__name__) from None
        except json.JSONDecodeError as e:  # the SDK parses each chunk, and lets a bad one through
            raise StreamBroken(f"the server sent a chunk that is not JSON ({e})") from None
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
