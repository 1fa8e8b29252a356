"""A resumed session's conversation as transcript entries, so the user sees where they left off."""

from __future__ import annotations

import json
from typing import Any, Iterable

from agent.tui.entries import AssistantEntry, Entry, NoticeEntry, PanelEntry, UserEntry, describe_call


def history_entries(recorded: Iterable[dict[str, Any]]) -> list[Entry]:
    """User requests, answers and folded tool panels from a session file's entries."""
    entries: list[Entry] = []
    panels: dict[str, PanelEntry] = {}
    asked: UserEntry | None = None  # a request whose message, next, holds the images it attached
    for entry in recorded:
        kind = entry.get("type")
        if kind == "request":  # the words as asked, without the map heron put in front of them
            asked = UserEntry(str(entry.get("text", "")))
            entries.append(asked)
        elif kind == "compaction":
            entries.append(NoticeEntry("Older turns were summarized here to make room."))
        elif kind == "message":
            message = entry.get("message") or {}
            if asked is not None and message.get("role") == "user":
                asked.images = [""] * _images_in(message)  # their names are not recorded
            asked = None
            if message.get("role") == "assistant":
                entries += _answer(message, panels)
            elif message.get("role") == "tool" and (panel := panels.get(message.get("tool_call_id", ""))):
                panel.body = message.get("content") or ""
    return entries


def _images_in(message: dict[str, Any]) -> int:
    content = message.get("content")
    if not isinstance(content, list):
        return 0
    return sum(isinstance(part, dict) and part.get("type") in ("image_ref", "image_url") for part in content)


def _answer(message: dict[str, Any], panels: dict[str, PanelEntry]) -> list[Entry]:
    shown: list[Entry] = []
    text, reasoning = message.get("content") or "", message.get("reasoning_content") or ""
    if text.strip() or reasoning.strip():
        shown.append(AssistantEntry(text, reasoning, streaming=False))
    for call in message.get("tool_calls") or []:
        panel = PanelEntry(title=_title(call), status="ok", call_id=call.get("id", ""))
        panels[panel.call_id] = panel
        shown.append(panel)
    return shown


def _title(call: dict[str, Any]) -> str:
    function = call.get("function") or {}
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except json.JSONDecodeError:
        arguments = {}
    return describe_call(function.get("name", "?"), arguments if isinstance(arguments, dict) else {})
