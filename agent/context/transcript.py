"""Durable sessions: one JSONL file per session, appended and flushed entry by entry.

Entries: a `header` first; then each `message` as it joins the history, the `request` text of
each user turn, the whole text of each shortened tool `output`, each `pin`, each `compaction`
(the history that replaced the old one) and each `event` but the streaming deltas (the
finished turn carries their text). Replaying them restores the history exactly. A kill can tear
only the last line, which loading skips.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import platformdirs

from agent import events as ev
from agent.context.history import Restored
from agent.errors import UsageError
from agent.images import from_data_url
from agent.interfaces import EventSink

UNRECORDED = (ev.TextDelta, ev.ReasoningDelta)


def sessions_dir() -> Path:
    return platformdirs.user_data_path("heron") / "sessions"


@dataclass(frozen=True)
class SessionInfo:
    id: str
    path: Path
    workspace: str
    created: str
    task: str
    updated: float


class Transcript:
    """A session file open for appending."""

    def __init__(self, path: Path, restored: Restored | None = None) -> None:
        self.path = path
        self.id = path.stem
        self.restored = restored
        # Whether anything was asked: a session nobody spoke in is not worth keeping.
        self.used = bool(restored and restored.latest_request is not None)
        self._lock = threading.Lock()  # the TUI may pin from its own thread while the loop runs
        # Private to the user: a session holds the code and commands of their repository.
        self._file = open(path, "a", encoding="utf-8", opener=lambda p, flags: os.open(p, flags, 0o600))

    @classmethod
    def create(cls, workspace: Path, task: str, root: Path | None = None) -> "Transcript":
        root = root or sessions_dir()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        session_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
        session = cls(root / f"{session_id}.jsonl")
        session.record({"type": "header", "id": session_id, "workspace": str(workspace.resolve()),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "task": task})
        return session

    @classmethod
    def resume(cls, session_id: str, root: Path | None = None) -> "Transcript":
        """Reopen a session to continue it; a torn last line is cut off before appending."""
        path = find_session(session_id, root)
        restored = restore(path)
        _cut_torn_line(path)
        return cls(path, restored)

    def record(self, entry: dict[str, Any]) -> None:
        entry = _with_images_stored(entry, self.path)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        self.used = self.used or entry.get("type") == "request"
        with self._lock:
            if self._file.closed:  # the front-end closed the session while the core's turn ran on
                return
            try:
                self._file.write(line)
                self._file.flush()
            except OSError as e:  # a full disk or a quota: the run stops before it goes unrecorded
                raise UsageError(f"cannot write the session file {self.path}: {e.strerror or e}; "
                                 "free some space there (or set XDG_DATA_HOME elsewhere) and run again") from None

    def recording(self, emit: EventSink) -> EventSink:
        """An event sink that records each event, then passes it on."""

        def sink(event: ev.Event) -> None:
            if not isinstance(event, UNRECORDED):
                self.record({"type": "event", "event": event.to_json()})
            emit(event)

        return sink

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def close_or_discard(self) -> None:
        """Close; a session in which nothing was said is deleted, so the list holds only real ones."""
        self.close()
        if not self.used:
            self.path.unlink(missing_ok=True)


def find_session(session_id: str, root: Path | None = None) -> Path:
    path = (root or sessions_dir()) / f"{session_id}.jsonl"
    if not session_id or "/" in session_id or not path.is_file():
        raise UsageError(f"no session '{session_id}'; `heron sessions` lists them")
    return path


def load_session(session_id: str, root: Path | None = None) -> list[dict[str, Any]]:
    """The message history of a recorded session, exactly as the model last saw it."""
    return restore(find_session(session_id, root)).messages


def restore(path: Path) -> Restored:
    restored = Restored()
    for entry in map(lambda e: _with_images_loaded(e, path), entries(path)):
        kind = entry.get("type")
        if kind == "message":
            restored.messages.append(entry["message"])
        elif kind == "request":
            restored.latest_request = entry["text"]
            restored.pending_pins = []
        elif kind == "output":
            restored.outputs[entry["handle"]] = entry["text"]
        elif kind == "pin":
            restored.pinned.append(entry["fact"])
            restored.pending_pins.append(entry["fact"])
        elif kind == "unpin":
            restored.pinned.remove(entry["fact"])
            if entry["fact"] in restored.pending_pins:
                restored.pending_pins.remove(entry["fact"])
        elif kind == "compaction":
            restored.messages = list(entry["messages"])
            restored.pending_pins = []
        elif kind == "event" and entry["event"].get("type") == "plan_updated":
            restored.plan = entry["event"]["items"]
    return restored


def list_sessions(workspace: Path | None = None, root: Path | None = None) -> list[SessionInfo]:
    """Recorded sessions, the most recently updated first; only `workspace`'s when given."""
    root = root or sessions_dir()
    where = str(workspace.resolve()) if workspace else None
    found = [info for path in (root.glob("*.jsonl") if root.is_dir() else [])
             if (info := _info(path)) and (where is None or info.workspace == where)]
    return sorted(found, key=lambda s: s.updated, reverse=True)


def session_info(session_id: str, root: Path | None = None) -> SessionInfo:
    path = find_session(session_id, root)
    info = _info(path)
    if info is None:
        raise UsageError(f"{path}: not a heron session (its first line is not a header)")
    return info


def latest_session(workspace: Path, root: Path | None = None) -> SessionInfo | None:
    """The session of this repository updated last (`heron --continue`)."""
    sessions = list_sessions(workspace, root)
    return sessions[0] if sessions else None


def _info(path: Path) -> SessionInfo | None:
    with path.open(encoding="utf-8") as f:
        line = f.readline()
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(header, dict) or header.get("type") != "header":
        return None
    return SessionInfo(path.stem, path, header.get("workspace", ""), header.get("created", ""),
                       header.get("task", "") or _first_request(path), path.stat().st_mtime)


def _first_request(path: Path, lines: int = 50) -> str:
    """The first thing asked in a session begun without a task (the TUI's), from its first lines."""
    with path.open(encoding="utf-8") as f:
        for _, line in zip(range(lines), f):
            if '"type": "request"' in line:
                try:
                    return str(json.loads(line).get("text", ""))
                except json.JSONDecodeError:
                    return ""
    return ""


def entries(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        lines = f.read().split("\n")
    # A complete file ends with a newline, so its last piece is empty; anything else there is
    # an entry cut short by a kill, and is skipped.
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            raise UsageError(f"{path}: line {number} is not valid JSON; the session file is damaged") from None


def _cut_torn_line(path: Path) -> None:
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with path.open("r+b") as f:
            f.truncate(end)
            os.fsync(f.fileno())


# --- images: kept once each, by hash, beside the session file --------------------------------------


def _images_dir(session_path: Path) -> Path:
    return session_path.with_suffix("") / "images"


def _with_images_stored(entry: dict[str, Any], session_path: Path) -> dict[str, Any]:
    """The entry with each image part's bytes written to the session's folder and named by hash."""
    def store(part: dict[str, Any]) -> dict[str, Any]:
        url = part["image_url"]["url"]
        mime = url[5:url.index(";")]
        data = from_data_url(url)
        digest = hashlib.sha256(data).hexdigest()
        folder = _images_dir(session_path)
        target = folder / digest
        if not target.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            target.write_bytes(data)
        return {"type": "image_ref", "sha256": digest, "mime": mime}

    return _map_image_parts(entry, "image_url", store)


def _with_images_loaded(entry: dict[str, Any], session_path: Path) -> dict[str, Any]:
    """The entry with each stored image back as the same data URL, byte for byte."""
    def load(part: dict[str, Any]) -> dict[str, Any]:
        target = _images_dir(session_path) / str(part["sha256"])
        try:
            data = target.read_bytes()
        except OSError:
            raise UsageError(f"{session_path}: an image of the session is missing ({target})") from None
        return {"type": "image_url", "image_url": {"url": f"data:{part['mime']};base64,{base64.b64encode(data).decode()}"}}

    return _map_image_parts(entry, "image_ref", load)


def _map_image_parts(entry: dict[str, Any], kind: str, change: Any) -> dict[str, Any]:
    messages = [entry["message"]] if entry.get("type") == "message" else entry.get("messages") \
        if entry.get("type") == "compaction" else None
    if not messages or not any(isinstance(m.get("content"), list) for m in messages):
        return entry

    def mapped(message: dict[str, Any]) -> dict[str, Any]:
        content = message.get("content")
        if not isinstance(content, list):
            return message
        return {**message, "content": [change(p) if isinstance(p, dict) and p.get("type") == kind else p
                                       for p in content]}

    if entry["type"] == "message":
        return {**entry, "message": mapped(entry["message"])}
    return {**entry, "messages": [mapped(m) for m in entry["messages"]]}
