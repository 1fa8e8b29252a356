"""Where the worker thread meets the UI thread: the event sink and the approver.

The loop runs in a thread. Its events are posted to the app (post_message is thread-safe and does
not wait), and an approval blocks only the worker until the user answers in a modal.
"""

from __future__ import annotations

import queue
import threading

from textual.app import App

from agent.events import Event
from agent.interfaces import Approval, ApprovalRequest
from agent.tui.messages import AgentEvent, ApprovalNeeded


class UiSink:
    def __init__(self, app: App) -> None:
        self.app = app

    def __call__(self, event: Event) -> None:
        self.app.post_message(AgentEvent(event))


class UiApprover:
    """Blocks the worker thread until the user answers; gives up when the app closes."""

    def __init__(self, app: App, closing: threading.Event) -> None:
        self.app = app
        self.closing = closing

    def __call__(self, request: ApprovalRequest) -> Approval:
        answers: queue.Queue[Approval] = queue.Queue(maxsize=1)
        self.app.post_message(ApprovalNeeded(request, answers.put))
        while not self.closing.is_set():
            try:
                return answers.get(timeout=0.1)
            except queue.Empty:
                continue
        return Approval(False, "heron was closed before the user answered")
