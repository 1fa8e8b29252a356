"""HeronApp: the transcript, the input box, the side panel and the status bar around one loop.

The loop runs in a thread worker and posts its events as messages; the approver blocks that
thread, never the UI's. Attributes go down to widgets, messages come up from them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical

from agent import events as ev
from agent.config import Config
from agent.context.transcript import Transcript, entries, list_sessions
from agent.core.build import Runtime, open_runtime
from agent.core.loop import Outcome
from agent.errors import HeronError, ServerError
from agent.interfaces import Approval
from agent.tui import slash
from agent.tui.bridge import Channel, UiApprover, UiSink
from agent.tui.commands import BUILTIN, user_commands
from agent.tui.completion import Completer
from agent.tui.entries import AssistantEntry, NoticeEntry, PanelEntry, UserEntry, describe_call
from agent.tui.history import history_entries
from agent.tui.messages import (
    AgentEvent,
    ApprovalNeeded,
    Connected,
    ConnectFailed,
    Drain,
    JobEnded,
    RunEnded,
    RunFailed,
    Submitted,
)
from agent.tui.modes import next_mode, policy_for
from agent.tui.preview import approval_preview
from agent.tui.screens.approval import ApprovalAnswer, ApprovalScreen
from agent.tui.screens.no_endpoint import NoEndpointScreen
from agent.tui.screens.plan_review import PlanDecision, PlanReviewScreen, plan_text
from agent.tui.screens.session_picker import SessionPickerScreen
from agent.tui.widgets.assistant_message import AssistantMessage
from agent.tui.widgets.completion_menu import CompletionMenu
from agent.tui.widgets.files_panel import FilesPanel
from agent.tui.widgets.plan_panel import PlanPanel
from agent.tui.widgets.prompt_input import PromptInput
from agent.tui.widgets.status_bar import StatusBar
from agent.tui.widgets.tool_panel import ToolPanel
from agent.tui.widgets.transcript import Transcript
from prompts import render

RETRY_SECONDS = 3.0
DRAIN_BUDGET = 0.008  # seconds of worker messages handled before the UI takes its turn
QUIT_WINDOW = 2.0
EDIT_TOOLS = ("write_file", "edit_file")


class HeronApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "heron"
    BINDINGS = [
        Binding("escape", "interrupt", "interrupt", priority=False),
        Binding("shift+tab", "cycle_mode", "mode", priority=True),
        Binding("ctrl+c", "quit_twice", "quit", priority=True),
        Binding("ctrl+b", "toggle_side", "side panel", priority=True),
        Binding("pageup", "scroll_transcript(-1)", show=False, priority=True),
        Binding("pagedown", "scroll_transcript(1)", show=False, priority=True),
    ]

    def __init__(self, config: Config, workspace: Path, resume: str | None = None,
                 pick_session: bool = False) -> None:
        super().__init__()
        self.config = config
        self.workspace = workspace.resolve()
        self.runtime: Runtime | None = None
        # The recorded session: a new one, or `resume`'s; with pick_session the user chooses first.
        self.resume = resume
        self.pick_session = pick_session
        self.session: Transcript | None = None
        self._resumed = False  # the next message tells the model the session was resumed
        self.last_summary = ""  # the model's last summary: /commit's default message source
        self.mode = config.approval or "ask"
        self.act_mode = self.mode if self.mode != "plan" else "ask"
        self.session_allow: tuple[str, ...] = ()
        self.running = False
        self.closing = threading.Event()
        self.channel = Channel(self)
        self.user_commands = user_commands(self.workspace)
        self.completer = Completer(self.workspace, {**BUILTIN, **{
            n: c.description for n, c in self.user_commands.items()}})
        self._assistant: AssistantMessage | None = None
        self._panels: dict[str, PanelEntry] = {}
        self._turn_started: float | None = None
        self._quit_pressed = 0.0

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        menu = CompletionMenu()
        with Horizontal(id="main"):
            with Vertical(id="conversation"):
                yield Transcript()
                yield menu
                yield PromptInput(self.completer, menu)
            with Vertical(id="side"):
                yield PlanPanel()
                yield FilesPanel()
        yield StatusBar()

    def on_mount(self) -> None:
        status = self.query_one(StatusBar)
        status.mode = self.mode
        status.window = self.config.context_window
        self.query_one(PromptInput).focus()
        self.load_files()
        if self.pick_session:
            self.choose_session()
        else:
            self.open_session()

    def on_unmount(self) -> None:
        self.closing.set()
        self.close_session()

    # -- sessions ----------------------------------------------------------------------------

    def choose_session(self) -> None:
        """Let the user pick a recorded session of this repository, or start a new one."""
        found = list_sessions(self.workspace)
        if not found:
            self.notify("No recorded session in this repository: starting a new one.")
            self.open_session()
            return

        def chosen(session_id: str | None) -> None:
            self.resume = session_id
            self.open_session()

        self.push_screen(SessionPickerScreen(found), chosen)

    def open_session(self) -> None:
        """Open the recorded session (resumed, or new), then connect to the server."""
        try:
            self.session = Transcript.resume(self.resume) if self.resume else Transcript.create(self.workspace, "")
        except HeronError as e:
            self.notify(f"{e}; starting a new session.", severity="error", timeout=8)
            self.resume = None
            self.session = Transcript.create(self.workspace, "")
        self.action_connect()

    def close_session(self) -> None:
        """Stop what runs, close the runtime, and keep the session only if anything was said."""
        if self.runtime is not None:
            self.runtime.cancel.set()
            self.runtime.ctx.interrupt()
            self.runtime.close()
            self.runtime = None
        if self.session is not None:
            self.session.close_or_discard()
            self.session = None

    async def switch_session(self, session_id: str | None) -> None:
        """/resume ID, or /clear (None: a new session): leave this one, kept if used, for another."""
        self.close_session()
        await self.reset_view()
        self.resume = session_id
        self.open_session()

    @property
    def transcript(self) -> Transcript:
        return self.query_one(Transcript)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    async def say(self, text: str, level: str = "info") -> None:
        await self.transcript.add(NoticeEntry(text, level))  # type: ignore[arg-type]

    # -- connecting --------------------------------------------------------------------------

    def action_connect(self) -> None:
        self.connect()

    @work(thread=True, exclusive=True, group="connect")
    def connect(self) -> None:
        session = self.session
        try:
            runtime = open_runtime(self.config, self.workspace, UiSink(self.channel),
                                   UiApprover(self.channel, self.closing), default_mode="ask",
                                   session=session)
        except HeronError as e:
            self.post_message(ConnectFailed(e))
            return
        self.post_message(Connected(runtime, session))

    async def on_connected(self, message: Connected) -> None:
        if self.closing.is_set() or message.session is not self.session or self.session is None:
            message.runtime.close()
            return
        self.runtime = message.runtime
        self._base_policy = self.runtime.loop.dispatcher.policy
        self._apply_mode()
        self.status.model = self.runtime.model.model
        self.status.endpoint = self.runtime.model.base_url
        if isinstance(self.screen, NoEndpointScreen):
            self.pop_screen()
            self.notify(f"Connected to {self.runtime.model.model}")
        if self.session.restored is not None:
            await self.show_resumed(self.session)

    async def show_resumed(self, session: Transcript) -> None:
        await self.transcript.add_many(history_entries(entries(session.path)))
        self.query_one(PlanPanel).show(self.runtime.ctx.state.get("plan") or [] if self.runtime else [])
        self._resumed = True
        await self.say(f"Resumed session {session.id}. Files may have changed since; the model will check "
                       "before it edits. Send a message to go on.")

    def on_connect_failed(self, message: ConnectFailed) -> None:
        if isinstance(self.screen, NoEndpointScreen):
            self.screen.failed_again(str(message.error))
        else:
            self.push_screen(NoEndpointScreen(str(message.error)))
        self.set_timer(RETRY_SECONDS, self.action_connect)

    @work(thread=True, exclusive=True, group="files")
    def load_files(self) -> None:
        self.completer.refresh_files()

    # -- sending -----------------------------------------------------------------------------

    async def on_submitted(self, message: Submitted) -> None:
        await slash.handle(self, message.text)

    async def send(self, prompt: str, shown: str) -> None:
        """Show the user's words and run the loop on the prompt in the worker."""
        if self.runtime is None:
            await self.say("Not connected to a model server yet; heron keeps trying.", "warning")
            return
        if self.running:
            await self.say("The model is still working: wait, or press Esc to interrupt it.", "warning")
            return
        await self.transcript.add(UserEntry(shown))
        if self._resumed:
            prompt, self._resumed = render("resume", note=f"The user adds: {prompt.strip()}\n\n"), False
        self._set_running(True)
        self.run_loop(prompt, self.mode)

    def background(self, job: Callable[[], JobEnded]) -> None:
        """Run a slash command's job in a thread; the input waits, as it does for the model."""
        self._set_running(True)
        self.run_worker(lambda: self._run_job(job), thread=True, group="job")

    def _run_job(self, job: Callable[[], JobEnded]) -> None:
        try:
            ended = job()
        except HeronError as e:
            ended = JobEnded(str(e), "error")
        except Exception as e:  # a bug must not take the user's session down with it
            ended = JobEnded(f"heron hit an internal error: {type(e).__name__}: {e}", "error")
        self.channel.send(ended)  # after the job's own events, in order

    @work(thread=True, exclusive=True, group="loop")
    def run_loop(self, prompt: str, mode: str) -> None:
        runtime = self.runtime
        assert runtime is not None
        runtime.cancel.clear()
        runtime.loop.steps = 0  # each message gets the whole step budget
        try:
            outcome = runtime.loop.run(prompt)
        except HeronError as e:
            self.channel.send(RunFailed(e))
            return
        except Exception as e:  # a bug must not take the user's session down with it
            self.channel.send(RunFailed(HeronError(f"heron hit an internal error: {type(e).__name__}: {e}")))
            return
        self.channel.send(RunEnded(outcome, mode))

    async def on_drain(self, message: Drain) -> None:
        """Handle the worker's messages for a few milliseconds, then let keys and paints in."""
        deadline = time.perf_counter() + DRAIN_BUDGET
        while time.perf_counter() < deadline and (item := self.channel.take()) is not None:
            match item:
                case AgentEvent():
                    await self.show_event(item)
                case ApprovalNeeded():
                    self.ask_approval(item)
                case RunEnded():
                    await self.run_ended(item)
                case RunFailed():
                    await self.run_failed(item)
                case JobEnded():
                    await self.job_ended(item)
        self.channel.drained()

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.status.busy = running

    async def run_ended(self, message: RunEnded) -> None:
        await self._end_turn()
        self._set_running(False)
        self.load_files()
        outcome = message.outcome
        if outcome.status == "interrupted":
            await self.say("Interrupted. Nothing half-done was kept; send a message to go on.", "warning")
        if outcome.status in ("finished", "answered"):
            self.last_summary = outcome.summary
        if outcome.status == "finished":
            await self.transcript.add(AssistantEntry(text=outcome.summary, streaming=False))
        elif outcome.status == "step_limit":
            await self.say(f"{outcome.summary}. Send a message to let it go on.", "warning")
        if message.mode == "plan" and outcome.status in ("finished", "answered"):
            self.review_plan(outcome)

    async def job_ended(self, message: JobEnded) -> None:
        self._set_running(False)
        self.load_files()
        if message.panel:
            await self.transcript.add(PanelEntry(title=message.panel, body=message.said, status="ok", expanded=True))
        elif message.said:
            await self.say(message.said, message.level)

    async def run_failed(self, message: RunFailed) -> None:
        await self._end_turn()
        self._set_running(False)
        what = str(message.error)
        if isinstance(message.error, ServerError):
            what += "\nYour conversation is kept: once the server is back, send your message again."
        await self.say(what, "error")

    # -- plan, then act ----------------------------------------------------------------------

    def review_plan(self, outcome: Outcome) -> None:
        assert self.runtime is not None
        items = self.runtime.ctx.state.get("plan") or []
        self.push_screen(PlanReviewScreen(items, outcome.summary), self._plan_decided)

    async def _plan_decided(self, decision: PlanDecision | None) -> None:
        if decision is None or decision.action == "cancel":
            await self.say("Still in plan mode: comment on the plan, or Shift+Tab to leave plan mode.")
            return
        if decision.action == "revise":
            await self.send(render("plan_revise", plan=decision.plan, comment=decision.comment or "(none)"),
                            shown=f"Revise the plan: {decision.comment}" if decision.comment else "Revise the plan")
            return
        self.set_mode(self.act_mode)
        original = plan_text(self.runtime.ctx.state.get("plan") or []) if self.runtime else ""
        prompt = render("act", plan=decision.plan,
                        edited=" (the user edited it)" if decision.plan != original else "",
                        comment=f"\nThe user's comments: {decision.comment}" if decision.comment else "")
        await self.send(prompt, shown="Plan approved: act on it" + (f" ({decision.comment})" if decision.comment else ""))

    # -- modes -------------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode != "plan":
            self.act_mode = mode
        self.mode = mode
        self.status.mode = mode
        self._apply_mode()

    def _apply_mode(self) -> None:
        if self.runtime is not None:
            self.runtime.loop.dispatcher.policy = policy_for(self._base_policy, self.mode, self.session_allow)

    def action_cycle_mode(self) -> None:
        self.set_mode(next_mode(self.mode))
        self.notify(f"mode: {self.mode}", timeout=1.5)

    # -- approvals ---------------------------------------------------------------------------

    def ask_approval(self, message: ApprovalNeeded) -> None:
        def answered(answer: ApprovalAnswer | None) -> None:
            answer = answer or ApprovalAnswer(False, "no answer")
            if answer.always:
                self.session_allow += (answer.always,)
                self._apply_mode()
            if answer.interrupt:
                self.action_interrupt()
            message.answer(Approval(answer.approved, answer.reason))

        self.push_screen(ApprovalScreen(message.request, approval_preview(self.workspace, message.request)),
                         answered)

    # -- keys --------------------------------------------------------------------------------

    def action_interrupt(self) -> None:
        if not self.running or self.runtime is None:
            return
        self.runtime.cancel.set()
        self.runtime.ctx.interrupt()  # a running command stops now, not at its timeout
        self.notify("Interrupting…", timeout=1.5)

    def action_quit_twice(self) -> None:
        now = time.monotonic()
        if now - self._quit_pressed < QUIT_WINDOW:
            self.exit()
            return
        self._quit_pressed = now
        self.notify("Press Ctrl+C again to quit", timeout=QUIT_WINDOW)

    def action_toggle_side(self) -> None:
        side = self.query_one("#side")
        side.display = not side.display

    def action_scroll_transcript(self, direction: int) -> None:
        if direction < 0:
            self.transcript.scroll_page_up()
        else:
            self.transcript.scroll_page_down()

    # -- events of the loop ------------------------------------------------------------------

    async def show_event(self, message: AgentEvent) -> None:
        event = message.event
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
            case ev.ToolStarted():
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
                self.query_one(PlanPanel).show(event.items)
            case ev.Warning():
                await self.say(event.message, "warning")
            case ev.ContextMeter():  # the window shown stays the server's, unknown when it does not say
                self.status.used_tokens = event.used_tokens
            case ev.Compacted():
                dropped = event.messages_dropped
                await self.say(f"Compacted ({event.reason}): {dropped} older message{'s' * (dropped != 1)} "
                               f"summarized, {event.tokens_before:,} → {event.tokens_after:,} tokens.")
            case ev.Committed():
                await self.say(f"Committed {event.sha[:10]}{' on ' + event.branch if event.branch else ''}: "
                               f"{event.subject}")

    async def _assistant_widget(self) -> AssistantMessage:
        if self._assistant is None:
            self._turn_started = time.monotonic()
            widget = await self.transcript.add(AssistantEntry())
            assert isinstance(widget, AssistantMessage)
            self._assistant = widget
        return self._assistant

    async def _end_turn(self) -> None:
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
            self.query_one(FilesPanel).touch(str(entry.data["arguments"].get("path", "")))
        self._refresh_panel(entry)

    def _refresh_panel(self, entry: PanelEntry) -> None:
        for panel in self.transcript.query(ToolPanel):
            if panel.entry is entry:
                panel.finish(entry)
                return

    def _show_usage(self, usage: ev.Usage) -> None:
        status = self.status
        status.used_tokens = usage.prompt_tokens + usage.completion_tokens
        status.window = usage.context_window or self.config.context_window
        if usage.prompt_tokens:
            status.cache_reuse = (usage.cached_tokens / usage.prompt_tokens
                                  if usage.cached_tokens is not None else None)
        if usage.tokens_per_second is not None:  # measured by the model client, calls-only turns too
            status.tokens_per_second = usage.tokens_per_second
        elif self._turn_started is not None and usage.completion_tokens:
            elapsed = time.monotonic() - self._turn_started
            status.tokens_per_second = usage.completion_tokens / elapsed if elapsed > 0 else None
        self._turn_started = None

    async def switched_model(self, name: str) -> None:
        self.status.model = name
        await self.say(f"Now using {name}.")

    async def reset_view(self) -> None:
        await self.transcript.clear()
        self.query_one(PlanPanel).show([])
        self.query_one(FilesPanel).reset()
