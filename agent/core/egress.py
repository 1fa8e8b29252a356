"""The one door out: every request bound for the model passes `Egress` just before it is sent.

Whatever put a text into the request (see Source), its secrets are replaced here and only here by
a placeholder, `[secret:1a2b3c4d]`, the same for the same value in every request and every session
(a keyed hash, the key this user's), so each request stays a byte prefix of the next and a resumed
session sends the same bytes. On the way back, `restore` turns placeholders in a tool call's
arguments into the real values before the tool runs: a model that reads a file and writes it back
whole leaves its secrets intact.

History is append-only, so each text is redacted once and its result kept for as long as it is
still in the requests: a turn costs the scan of what is new, not of the whole history.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import Enum
from typing import Any, Callable, Iterable

from agent.secrets import found_by_form

PLACEHOLDER = re.compile(r"\[secret:([0-9a-f]{8})\]")
# Fields of the protocol, not text anyone wrote, and images (base64 that looks random to a
# secret scanner): never rewritten.
PROTOCOL_KEYS = frozenset({"role", "type", "id", "tool_call_id", "name", "image_url"})

Message = dict[str, Any]


class Source(str, Enum):
    """Everything that puts text into a model-bound request. A new one is added here, and gets a
    planted secret in tests/test_egress.py, which checks that no secret of any source is sent."""

    SYSTEM_PROMPT = "the system prompt"
    PROJECT_RULES = "project rules (AGENTS.md, HERON.md)"
    REPO_MAP = "the repo map"
    TOOL_RESULT = "tool results"
    USER_TEXT = "the user's messages, @-mentions and pinned facts"
    COMPACTION = "compaction summaries"
    COMMIT_REQUEST = "commit-message requests"
    REVIEW_DIFF = "review diffs"
    BATCH_ISSUE = "batch issue texts"


class Egress:
    """Redacts requests to the model and restores placeholders in what comes back."""

    def __init__(self, known: Callable[[], Iterable[str]], key: bytes) -> None:
        # Secret values known by name (the environment, .env files), asked for at each request.
        self.known = known
        self.key = key
        self.placeholders: dict[str, str] = {}  # secret -> placeholder
        self.values: dict[str, str] = {}  # placeholder digits -> secret
        self._order: list[str] = []  # the secrets, longest first: one that contains another goes whole
        self._sent: dict[str, str] = {}  # text -> the text sent, for the texts of the last request

    def __call__(self, messages: list[Message], tools: list[dict[str, Any]]) -> tuple[list[Message], list[dict[str, Any]]]:
        """The request as it may leave: every text in its messages and tool schemas redacted."""
        self._learn(self.known())
        previous, self._sent = self._sent, {}
        out = [self._walk(m, previous) for m in messages], [self._walk(t, previous) for t in tools]
        return out

    def text(self, text: str) -> str:
        """One text redacted: secrets found by form become known, then every known one is replaced."""
        self._learn(found_by_form(text))
        for value in self._order:
            if value in text:
                text = text.replace(value, self.placeholders[value])
        return text

    def restore(self, value: Any) -> Any:
        """Tool-call arguments with the placeholders this egress made turned back into secrets."""
        if isinstance(value, str):
            return PLACEHOLDER.sub(lambda m: self.values.get(m.group(1), m.group(0)), value) if "[secret:" in value else value
        if isinstance(value, dict):
            return {k: self.restore(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.restore(v) for v in value]
        return value

    def _walk(self, value: Any, previous: dict[str, str]) -> Any:
        if isinstance(value, str):
            # A text of the last request is looked up, not scanned again: a str caches its hash,
            # so this costs the same for a 1 MB tool output as for a word.
            sent = previous.get(value)
            if sent is None:
                sent = self.text(value)
            self._sent[value] = sent
            return sent
        if isinstance(value, dict):
            return {k: v if k in PROTOCOL_KEYS else self._walk(v, previous) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, previous) for v in value]
        return value

    def _learn(self, values: Iterable[str]) -> None:
        new = [v for v in values if v not in self.placeholders]
        for value in new:
            digits = hmac.new(self.key, value.encode(), hashlib.sha256).hexdigest()[:8]
            self.placeholders[value] = f"[secret:{digits}]"
            self.values.setdefault(digits, value)
        if new:
            self._order = sorted(self.placeholders, key=len, reverse=True)
