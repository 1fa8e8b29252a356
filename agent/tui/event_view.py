"""How the core's events of a turn show: the streaming answer, tool panels, the plan, the status bar.

Attributes go down: the view holds the widgets it writes to and nothing of the core. Events that
end a turn or ask the user something are the app's to handle; the rest come here.
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from agent import events as ev
from agent.tui.entries import AssistantEntry, PanelEntry, describe_call
from agent.tui.widgets.assistant_message import AssistantMessage
from agent.tui.widgets.files_panel import FilesPanel
from agent.tui.widgets.plan_panel import PlanPanel
from agent.tui.widgets.status_bar import StatusBar
from agent.tui.widgets.tool_panel import ToolPanel
from agent.tui.widgets.transcript import Transcript

EDIT_TOOLS = ("write_file", "edit_file")
# Calls shown by what follows rather than as a panel: finish's summary is the model's last message.
UNSHOWN_TOOLS = ("finish",)
Say = Callable[[str, str], Awaitable[None]]


class EventView:
    def __init__(self, transcript: Transcript, status: StatusBar, plan: PlanPanel, files: FilesPanel,
                 say: Say, configured_window: int | None) -> None:
        self.transcript = transcript
        self.status = status
        self.plan = plan
        self.files = files
        self.say = say
        self.configured_window = configured_window
        self._assistant: AssistantMessage | None = None
        self._panels: dict[str, PanelEntry] = {}
        self._turn_started: float | None = None

    @property
    def streaming(self) -> AssistantMessage | None:
        """The answer being written now, if any."""
        return self._assistant

    async def show(self, event: ev.Event) -> None:
        match event:
            case ev.TextDelta():
                (await self._assistant_widget()).add_text(event.text)
            case ev.ReasoningDelta():
                (await self._assistant_widget()).add_reasoning(event.text)
            case ev.StreamRestarted():
                if self._assistant is not None:
                    self._assistant.restart()
                await self.say(event.reason[:1].upper() + event.reason[1:] + ".", "warning")
            case ev.AssistantTurn():
                if self._assistant is not None:
                    self._assistant.finish(event.text, event.reasoning)
                elif event.text.strip() or event.reasoning.strip():
                    await self.transcript.add(AssistantEntry(event.text, event.reasoning, streaming=False))
                self._assistant = None
            case ev.Usage():
                self._show_usage(event)
            case ev.ToolStarted() if event.name not in UNSHOWN_TOOLS:
                entry = PanelEntry(title=describe_call(event.name, event.arguments), call_id=event.call_id,
                                   data={"name": event.name, "arguments": event.arguments})
                self._panels[event.call_id] = entry
                await self.transcript.add(entry)
            case ev.ToolFinished():
                self._finish_panel(event)
            case ev.ApprovalRequested(approved=False):
                if event.call_id in self._panels:
                    self._panels[event.call_id].status = "denied"
            case ev.PlanUpdated():
                self.plan.show(event.items)
            case ev.Warning():
                await self.say(event.message, "warning")
            case ev.ContextMeter():  # the window shown stays the server's, unknown when it does not say
                self.status.used_tokens = event.used_tokens
            case ev.Compacted():
                dropped = event.messages_dropped
                await self.say(f"Compacted ({event.reason}): {dropped} older message{'s' * (dropped != 1)} "
                               f"summarized, {event.tokens_before:,} → {event.tokens_after:,} tokens.", "info")
            case ev.Committed():
                await self.say(f"Committed {event.sha[:10]}{' on ' + event.branch if event.branch else ''}: "
                               f"{event.subject}", "info")

    async def end_turn(self) -> None:
        """A run ended mid-turn (interrupt, failure): stop the stream where it is."""
        if self._assistant is not None:
            entry = self._assistant.entry
            self._assistant.finish(entry.text, entry.reasoning)
            self._assistant = None
        for entry in self._panels.values():
            if entry.status == "running":
                entry.status = "error"
                entry.body = entry.body or "(stopped)"
                self._refresh_panel(entry)
        self._panels.clear()

    async def _assistant_widget(self) -> AssistantMessage:
        if self._assistant is None:
            self._turn_started = time.monotonic()
            widget = await self.transcript.add(AssistantEntry())
            assert isinstance(widget, AssistantMessage)
            self._assistant = widget
        return self._assistant

    def _finish_panel(self, event: ev.ToolFinished) -> None:
        entry = self._panels.pop(event.call_id, None)
        if entry is None:
            return
        diff = event.data.get("diff") if not event.is_error else None
        if entry.status != "denied":
            entry.status = "error" if event.is_error else "ok"
        entry.body = diff or event.output
        entry.lexer = "diff" if diff else None
        entry.expanded = bool(diff) or event.is_error
        if event.name in EDIT_TOOLS and not event.is_error:
            self.files.touch(str(entry.data["arguments"].get("path", "")))
        self._refresh_panel(entry)

    def _refresh_panel(self, entry: PanelEntry) -> None:
        for panel in self.transcript.query(ToolPanel):
            if panel.entry is entry:
                panel.finish(entry)
                return

    def _show_usage(self, usage: ev.Usage) -> None:
        status = self.status
        status.used_tokens = usage.prompt_tokens + usage.completion_tokens
        status.window = usage.context_window or self.configured_window
        if usage.prompt_tokens:
            status.cache_reuse = (usage.cached_tokens / usage.prompt_tokens
                                  if usage.cached_tokens is not None else None)
        if usage.tokens_per_second is not None:  # measured by the model client, calls-only turns too
            status.tokens_per_second = usage.tokens_per_second
        elif self._turn_started is not None and usage.completion_tokens:
            elapsed = time.monotonic() - self._turn_started
            status.tokens_per_second = usage.completion_tokens / elapsed if elapsed > 0 else None
        self._turn_started = None
