"""Headless event sinks: JSON lines for machines, short progress lines for people."""

from __future__ import annotations

import json
from typing import TextIO

from agent import events as ev


class JsonlSink:
    """One JSON object per event, flushed at once, so a reader sees progress live."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: ev.Event) -> None:
        self.out.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        self.out.flush()


class ProgressSink:
    """Progress for a person watching a headless run: one line per step, on stderr."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: ev.Event) -> None:
        line = self._line(event)
        if line:
            self.out.write(line + "\n")
            self.out.flush()

    def _line(self, event: ev.Event) -> str | None:
        match event:
            case ev.SessionStarted():
                return f"heron: {event.model} at {event.base_url}, in {event.workspace}"
            case ev.AssistantTurn(text=text) if text.strip():
                return f"[{event.step}] {_first_line(text)}"
            case ev.ToolStarted():
                return f"  → {event.name} {_brief(event.arguments)}"
            case ev.ToolFinished(is_error=True):
                return f"    ✗ {_first_line(event.output)}"
            case ev.ApprovalRequested(approved=False):
                return f"    not approved: {event.reason}"
            case ev.SessionOpened():
                return f"heron: session {event.session_id} (continue it: heron fix --resume {event.session_id})"
            case ev.Compacted():
                return (f"  (context compacted, {event.reason}: {event.messages_dropped} messages "
                        f"summarized, {event.tokens_freed} tokens freed)")
            case ev.StreamRestarted():
                return f"  ({event.reason})"
            case ev.Warning():
                return f"warning: {event.message}"
            case ev.TestRun():
                verdict = "passed" if event.passed else f"failed (exit {event.exit_code})"
                return f"check `{event.command}` {verdict}"
            case ev.Committed():
                where = f" in {event.worktree}" if event.worktree else ""
                return f"committed {event.sha[:10]} on {event.branch or 'a detached HEAD'}{where}: {event.subject}"
            case ev.Done():
                return f"heron: {event.status}"
        return None


def _first_line(text: str, width: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _brief(arguments: dict[str, object]) -> str:
    for key in ("command", "path", "pattern", "glob", "summary"):
        if key in arguments:
            return _first_line(str(arguments[key]), 120)
    return ""
