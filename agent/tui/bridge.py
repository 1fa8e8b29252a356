"""Where the core's thread meets the UI thread: one ordered channel and the event sink.

The core runs on its own thread and can produce hundreds of events a second. They queue in a deque
and the UI drains them a few milliseconds at a time, handing the event loop back between batches,
so keys never wait behind a backlog of events. An approval waits on the core's thread only, until
the user's answer comes back as a command.
"""

from __future__ import annotations

import threading
from collections import deque

from textual.app import App
from textual.message import Message

from agent.events import Event
from agent.tui.messages import AgentEvent, Drain


class Channel:
    """Messages from the worker, in order; the app is told once when the queue stops being empty."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._queue: deque[Message] = deque()
        self._lock = threading.Lock()
        self._signalled = False

    def send(self, message: Message) -> None:
        with self._lock:
            self._queue.append(message)
            if self._signalled:
                return
            self._signalled = True
        self.app.post_message(Drain())

    def take(self) -> Message | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def drained(self) -> None:
        """The app stopped taking: signal again if more is waiting, else wait for the next send."""
        with self._lock:
            if not self._queue:
                self._signalled = False
                return
        self.app.post_message(Drain())


class UiSink:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def __call__(self, event: Event) -> None:
        self.channel.send(AgentEvent(event))
