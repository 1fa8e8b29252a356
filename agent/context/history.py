"""The conversation as the model sees it: token counts, the window budget, compaction.

History is append-only, so each request is a byte prefix of the next and a prefix-caching server
re-processes only what is new. Only compaction rewrites it: older turns become a summary the
model writes, while what users most miss after a compaction is put back verbatim and
mechanically — the project instructions, the facts they pinned, the plan, the files touched and
their latest request — rather than trusted to the summary.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from agent.events import Compacted, ContextMeter
from agent.images import Picture, content_text, part_tokens, with_pictures
from agent.interfaces import ModelClient
from agent.model.client import TurnUsage
from agent.model.tokens import count_tokens
from prompts import render
from tools.output_store import OutputStore
from tools.plan import MARKS

DEFAULT_WINDOW = 262_144
DEFAULT_COMPACT_AT = 0.85
# Tokens for what heron's own count does not see: the chat template's markup around messages
# and tools, and the difference between its count and the server's.
MARGIN = 2_048
MESSAGE_OVERHEAD = 4  # role markers and separators around each message
TAIL_SHARE = 0.25  # share of the budget kept verbatim, as the latest turns, at a compaction
INSTRUCTION_FILES = ("AGENTS.md", "HERON.md")

Recorder = Callable[[dict[str, Any]], None]


def answer_tokens(max_output_tokens: int, window: int | None) -> int:
    """Tokens kept for each answer: as configured, but at most a quarter of a small window, or
    the prompt would have no room (a 4,096-token llama-server against the 16,384 default)."""
    return min(max_output_tokens, window // 4) if window else max_output_tokens


@dataclass(frozen=True)
class Budget:
    window: int = DEFAULT_WINDOW
    reserved_output: int = 0
    compact_at: float = DEFAULT_COMPACT_AT
    margin: int = MARGIN

    @property
    def limit(self) -> int:
        """Tokens a request may use and still leave room for the answer."""
        # The margin shrinks with a small window, where it would otherwise eat half of it.
        return max(self.window - self.reserved_output - min(self.margin, self.window // 16), 0)

    @property
    def threshold(self) -> int:
        """A request bigger than this compacts first."""
        return min(int(self.window * self.compact_at), self.limit)


@dataclass(frozen=True)
class Instructions:
    """The project's instructions to agents, read from the repository root at start."""

    name: str
    text: str


def read_instructions(workspace: Path) -> Instructions | None:
    for name in INSTRUCTION_FILES:
        path = workspace / name
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if text:
                return Instructions(name, text)
    return None


@dataclass
class Restored:
    """What a recorded session holds: the history exactly, long outputs whole, and the pins."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    pinned: list[str] = field(default_factory=list)
    pending_pins: list[str] = field(default_factory=list)  # pinned after the last user turn
    latest_request: str | None = None
    plan: list[dict[str, str]] | None = None


def message_tokens(message: dict[str, Any]) -> int:
    content = message.get("content")
    pieces = [content_text(content), message.get("reasoning_content") or ""]
    for call in message.get("tool_calls") or []:
        pieces += [call["function"]["name"], call["function"]["arguments"]]
    images = sum(part_tokens(p) for p in content if p.get("type") == "image_url") if isinstance(content, list) else 0
    return count_tokens("\n".join(pieces)) + images + MESSAGE_OVERHEAD


class Context:
    """The messages and tool schemas of one session, each message's token count kept beside it."""

    def __init__(
        self,
        system_prompt: str,
        tools: list[dict[str, Any]],
        budget: Budget,
        outputs: OutputStore,
        instructions: Instructions | None = None,
        record: Recorder | None = None,
        restored: Restored | None = None,
    ) -> None:
        self.set_tools(tools)
        self.budget = budget
        self.outputs = outputs
        self.instructions = instructions
        self.record = record or (lambda entry: None)
        self.messages: list[dict[str, Any]] = []
        self.tokens: list[int] = []
        self.pinned: list[str] = []
        self.pending_pins: list[str] = []
        # The user's own words at the latest turn, without the context put before them.
        self.latest_request: str | None = None
        if restored is None:
            self.append({"role": "system", "content": system_prompt})
        else:
            self._restore(restored)

    def set_tools(self, tools: list[dict[str, Any]]) -> None:
        """A canonical copy: the schemas are part of the cached prefix, so they change only
        between user turns (an MCP server came or went)."""
        self.tools: list[dict[str, Any]] = json.loads(json.dumps(tools, sort_keys=True))
        self.tools_tokens = count_tokens(json.dumps(self.tools))

    @property
    def used(self) -> int:
        return self.tools_tokens + sum(self.tokens)

    def append(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        self.tokens.append(message_tokens(message))
        self.record({"type": "message", "message": message})

    def add_user_turn(self, text: str, turn_context: str | None = None, pictures: tuple[Picture, ...] = ()) -> None:
        """The user's words, after what belongs at a user turn: on the first, the project
        instructions; then facts pinned since the last turn and the turn's context (a repo map)."""
        parts = []
        if self.instructions and not any(m["role"] == "user" for m in self.messages):
            parts.append(render("instructions", file=self.instructions.name, text=self.instructions.text))
        if self.pending_pins:
            parts.append(render("pinned", facts=_bullets(self.pending_pins)))
            self.pending_pins = []
        if turn_context:
            parts.append(turn_context)
        parts.append(text)
        self.latest_request = text
        self.record({"type": "request", "text": text})
        self.append({"role": "user", "content": with_pictures("\n\n".join(parts), pictures)})

    def add_pictures(self, caption: str, pictures: list[Picture]) -> None:
        """Images tools returned (view_image, an MCP server's): a user message after their answers,
        since a tool message carries only text in the OpenAI protocol."""
        self.append({"role": "user", "content": with_pictures(caption, pictures)})

    def add_tool_result(self, call_id: str, output: str) -> None:
        """Answer a tool call; a long output is kept whole and shown as its head and tail."""
        shown = self.outputs.shown(call_id, output)
        if shown != output:
            self.record({"type": "output", "handle": call_id, "text": output})
        self.append({"role": "tool", "tool_call_id": call_id, "content": shown})

    def pin(self, fact: str) -> None:
        """A fact the user wants kept: told to the model at the next user turn, and put back
        verbatim after every compaction."""
        self.pinned.append(fact)
        self.pending_pins.append(fact)
        self.record({"type": "pin", "fact": fact})

    def unpin(self, fact: str) -> bool:
        """Forget a pinned fact from the next compaction on; False when nothing pinned reads so."""
        if fact not in self.pinned:
            return False
        self.pinned.remove(fact)
        if fact in self.pending_pins:
            self.pending_pins.remove(fact)
        self.record({"type": "unpin", "fact": fact})
        return True

    def over_threshold(self) -> bool:
        return self.used > self.budget.threshold

    def meter(self, usage: TurnUsage | None) -> ContextMeter:
        return ContextMeter(
            used_tokens=self.used, budget_tokens=self.budget.limit, context_window=self.budget.window,
            prompt_tokens=usage.prompt_tokens if usage else None,
            cached_tokens=usage.cached_tokens if usage else None,
        )

    def compact(self, model: ModelClient, reason: str, plan: list[dict[str, str]] | None = None,
                edit_tools: frozenset[str] = frozenset()) -> Compacted | None:
        """Replace the older turns with a summary the model writes; None if there are none.

        The model summarizes with the history itself as the prompt, so the server reuses its
        cached prefix. The latest turns are kept as they are: what fits TAIL_SHARE of the budget,
        or only the last on request (the user's /compact) and on overflow. An overflow also
        shows the server's window is smaller than the budget assumed, so the budget shrinks.
        """
        if reason == "overflow":
            window = min(self.budget.window, self.used + self.budget.reserved_output)
            self.budget = dataclasses.replace(self.budget, window=window)
        cut = self._cut(int(self.budget.limit * TAIL_SHARE) if reason == "threshold" else 0)
        if cut < 2:
            return None
        before, older = self.used, self.messages[1:cut]
        request = self.messages[:cut] + [{"role": "user", "content": render("compact")}]
        turn = model.complete(request, self.tools, lambda event: None)
        summary = turn.text.strip() or "(the model wrote no summary)"
        edited, read = _files_touched(older, edit_tools)
        kept_latest = any(m["role"] == "user" for m in self.messages[cut:])
        body = render(
            "compacted",
            summary=summary,
            instructions=(f"{self.instructions.name}, verbatim:\n\n{self.instructions.text}"
                          if self.instructions else "(none)"),
            pinned=_bullets(self.pinned) or "(none)",
            plan="\n".join(f"{MARKS[i['status']]} {i['text']}" for i in plan or []) or "(no plan)",
            edited=", ".join(edited) or "(none)",
            read=", ".join(read) or "(none)",
            request=(self.latest_request or "(none)") if not kept_latest else "(it follows below)",
        )
        summary_message = {"role": "user", "content": body}
        self.messages = [self.messages[0], summary_message, *self.messages[cut:]]
        self.tokens = [self.tokens[0], message_tokens(summary_message), *self.tokens[cut:]]
        self.pending_pins = []
        self.record({"type": "compaction", "messages": self.messages})
        return Compacted(reason=reason, messages_dropped=len(older), tokens_before=before,
                         tokens_after=self.used, tokens_freed=before - self.used, summary=summary)

    def _cut(self, keep: int) -> int:
        """Where the kept tail starts: the earliest turn boundary whose tail fits `keep` tokens,
        and at least the last turn. A tool answer never starts the tail, since it cannot be
        separated from the call it answers."""
        boundaries = [i for i in range(1, len(self.messages)) if self.messages[i]["role"] != "tool"]
        if not boundaries:
            return len(self.messages)
        tail = sum(self.tokens[boundaries[-1]:])
        cut = boundaries[-1]
        for i in reversed(boundaries[:-1]):
            tail += sum(self.tokens[i:cut])
            if tail > keep:
                break
            cut = i
        return cut

    def _restore(self, restored: Restored) -> None:
        self.messages = list(restored.messages)
        self.tokens = [message_tokens(m) for m in self.messages]
        self.outputs.outputs.update(restored.outputs)
        self.pinned = list(restored.pinned)
        self.pending_pins = list(restored.pending_pins)
        self.latest_request = restored.latest_request
        self._answer_dangling_calls()

    def _answer_dangling_calls(self) -> None:
        """A session killed while tools ran has calls without answers; the protocol needs one each."""
        for message in reversed(self.messages):
            if message["role"] == "assistant":
                answered = {m.get("tool_call_id") for m in self.messages if m["role"] == "tool"}
                for call in message.get("tool_calls") or []:
                    if call["id"] not in answered:
                        self.append({"role": "tool", "tool_call_id": call["id"],
                                     "content": "(not run: the session ended before this call)"})
                return


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _files_touched(messages: list[dict[str, Any]], edit_tools: frozenset[str]) -> tuple[list[str], list[str]]:
    """Paths the model's calls edited and read, in first-seen order, from their arguments."""
    edited: dict[str, None] = {}
    read: dict[str, None] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            try:
                arguments = json.loads(call["function"]["arguments"] or "{}")
            except json.JSONDecodeError:
                continue
            path = arguments.get("path") if isinstance(arguments, dict) else None
            if isinstance(path, str):
                (edited if call["function"]["name"] in edit_tools else read)[path] = None
    return list(edited), [p for p in read if p not in edited]
