"""HeronApp: the transcript, the input box, the side panel and the status bar around one Session.

The app holds a Session (agent/core/session.py) and nothing else of the core: it sends commands
and shows the events that come back. The core runs on its own thread; its events reach the UI
through one ordered channel. Attributes go down to widgets, messages come up from them.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical

from agent import events as ev
from agent.config import Config, Mode
from agent.core.build import Role, open_session
from agent.core.session import (
    AnswerApproval,
    Command,
    Interrupt,
    Session,
    SetMode,
    Submit,
    Transcript,
    entries,
    list_sessions,
)
from agent.errors import HeronError
from agent.images import ImageError
from agent.interfaces import Answer, Approval
from agent.priority import BACKGROUND_NICE, give_way
from agent.tui import plan_flow, slash
from agent.tui.attachments import attach
from agent.tui.bridge import Channel, UiSink
from agent.tui.commands import BUILTIN, user_commands
from agent.tui.completion import Completer
from agent.tui.entries import AssistantEntry, Entry, NoticeEntry, PanelEntry, UserEntry
from agent.tui.event_view import EventView
from agent.tui.history import history_entries
from agent.tui.messages import AgentEvent, Connected, ConnectFailed, Drain, Submitted
from agent.tui.modes import next_mode
from agent.tui.screens.approval import ApprovalScreen
from agent.tui.screens.no_endpoint import NoEndpointScreen
from agent.tui.screens.session_picker import SessionPickerScreen
from agent.tui.widgets.completion_menu import CompletionMenu
from agent.tui.widgets.files_panel import FilesPanel
from agent.tui.widgets.fold import Fold
from agent.tui.widgets.plan_panel import PlanPanel
from agent.tui.widgets.prompt_input import PromptInput
from agent.tui.widgets.status_bar import StatusBar
from agent.tui.widgets.transcript import Transcript as TranscriptView

RETRY_SECONDS = 3.0
SWITCH_INTERVAL = 0.001  # seconds a thread holds Python's lock while another waits (Python's default: 0.005)
DRAIN_BUDGET = 0.008  # seconds of worker messages handled before the UI takes its turn
QUIT_WINDOW = 2.0


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
        self.session: Session | None = None  # the core's door, once connected
        # The recorded session: a new one, or `resume`'s; with pick_session the user chooses first.
        self.resume = resume
        self.pick_session = pick_session
        self.recording: Transcript | None = None
        self.last_summary = ""  # the model's last summary: /commit's default message source
        self.mode = config.approval or Mode.ASK
        self.act_mode = self.mode if self.mode != Mode.PLAN else Mode.ASK
        self.running = False
        self._sent_mode = self.mode  # the mode the running message was sent in
        self._job = ""  # the session command the input waits for, if any
        self.closing = threading.Event()
        self.channel = Channel(self)
        self.user_commands = user_commands(self.workspace)
        self.completer = Completer(self.workspace, {**BUILTIN, **{
            n: c.description for n, c in self.user_commands.items()}})
        self._quit_pressed = 0.0

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        menu = CompletionMenu()
        with Horizontal(id="main"):
            with Vertical(id="conversation"):
                yield TranscriptView()
                yield menu
                yield PromptInput(self.completer, menu)
            with Vertical(id="side"):
                yield PlanPanel()
                yield FilesPanel()
        yield StatusBar()

    def on_mount(self) -> None:
        self.view = EventView(self.transcript, self.status, self.query_one(PlanPanel), self.query_one(FilesPanel),
                              self.say, self.config.context_window)
        self.status.mode = self.mode
        self.status.window = self.config.context_window
        self.query_one(PromptInput).focus()
        if not self.is_headless:
            # What startup made (modules, the widgets) lives as long as the app: frozen, it is no
            # longer walked by the cycle collector's full passes, which stalled the UI for up to
            # 142 ms a pass while a fresh session streamed (57 ms with it frozen). Not the session's
            # objects, which a new session lets go of; nor under Pilot, whose process runs many apps.
            gc.freeze()
            self._give_screen_priority()
        self.load_files()
        if self.pick_session:
            self.choose_session()
        else:
            self.open_session()

    def _give_screen_priority(self) -> None:
        """What runs beside the screen's thread gives way to it: the workers (connecting, listing
        files), as the core does (see on_connected), at a lower priority, and Python's lock passed
        to the screen's thread within 1 ms rather than 5 at each of the threads a key goes through
        (input, screen, output). Typed as a session opened on a 180,000-file tree, the slowest
        key of a run took 58-121 ms without these, 24-61 ms with them (six runs each)."""
        sys.setswitchinterval(SWITCH_INTERVAL)
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(initializer=give_way))

    def on_unmount(self) -> None:
        self.closing.set()
        self.close_session()

    @property
    def transcript(self) -> TranscriptView:
        return self.query_one(TranscriptView)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    async def say(self, text: str, level: str = "info") -> None:
        await self.transcript.add(NoticeEntry(text, level))  # type: ignore[arg-type]

    async def show(self, entry: Entry) -> None:
        await self.transcript.add(entry)

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
            self.recording = Transcript.resume(self.resume) if self.resume else Transcript.create(self.workspace, "")
        except HeronError as e:
            self.notify(f"{e}; starting a new session.", severity="error", timeout=8)
            self.resume = None
            self.recording = Transcript.create(self.workspace, "")
        self.action_connect()

    def close_session(self) -> None:
        """Stop what runs, close the session, and keep the recording only if anything was said."""
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.recording is not None:
            self.recording.close_or_discard()
            self.recording = None

    async def switch_session(self, session_id: str | None) -> None:
        """/resume ID, or /clear (None: a new session): leave this one, kept if used, for another."""
        self.close_session()
        await self.reset_view()
        self.resume = session_id
        self.open_session()

    # -- connecting --------------------------------------------------------------------------

    def action_connect(self) -> None:
        self.connect()

    @work(thread=True, exclusive=True, group="connect")
    def connect(self) -> None:
        recording = self.recording
        try:
            session = open_session(self.config, self.workspace, UiSink(self.channel),
                                   Role(default_mode=Mode.ASK, map_apart=True),
                                   transcript=recording)
        except HeronError as e:
            self.post_message(ConnectFailed(e))
            return
        self.post_message(Connected(session, recording))

    async def on_connected(self, message: Connected) -> None:
        if self.closing.is_set() or message.recording is not self.recording or self.recording is None:
            message.session.close()
            return
        self.session = message.session
        self.session.start(give_way=0 if self.is_headless else BACKGROUND_NICE)
        self.session.send(SetMode(Mode(self.mode)))
        self.status.model = self.session.model_name
        self.status.endpoint = self.session.base_url
        if isinstance(self.screen, NoEndpointScreen):
            self.pop_screen()
            self.notify(f"Connected to {self.session.model_name}")
        if self.recording.restored is not None:
            await self.show_resumed(self.recording)

    async def show_resumed(self, recording: Transcript) -> None:
        await self.transcript.add_many(history_entries(entries(recording.path)))
        self.view.plan.show(self.session.plan if self.session else [])
        await self.say(f"Resumed session {recording.id}. Files may have changed since; the model will check "
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
        """Show the user's words and hand the prompt, with the images they attach, to the session.
        A message that cannot be sent goes back to the input box."""
        session = self.session
        if session is None or self.running:
            await self.say("Not connected to a model server yet; heron keeps trying." if session is None else
                           "The model is still working: wait, or press Esc to interrupt it.", "warning")
            self.query_one(PromptInput).keep(shown)
            return
        self._set_running(True)  # nothing else is sent while the images load
        try:
            attached = await asyncio.to_thread(attach, shown, self.workspace)
        except ImageError as e:
            self._set_running(False)
            await self.say(f"{e}. Nothing was sent: your message is back in the input box.", "error")
            self.query_one(PromptInput).keep(shown)
            return
        await self.transcript.add(UserEntry(shown, [a.label for a in attached]))
        self._sent_mode = self.mode
        session.send(Submit(prompt, pictures=tuple(a.picture for a in attached)))

    def run_command(self, command: Command) -> None:
        """A session command the input waits for, as it does for the model (/undo, /commit…)."""
        assert self.session is not None
        self._set_running(True)
        self._job = type(command).__name__.lower()
        self.session.send(command)

    async def on_drain(self, message: Drain) -> None:
        """Handle the worker's messages for a few milliseconds, then let keys and paints in."""
        deadline = time.perf_counter() + DRAIN_BUDGET
        while time.perf_counter() < deadline and (item := self.channel.take()) is not None:
            if isinstance(item, AgentEvent):
                await self.core_event(item.event)
        self.channel.drained()

    async def core_event(self, event: ev.Event) -> None:
        match event:
            case ev.ApprovalNeeded():
                self.ask_approval(event)
            case ev.TurnEnded():
                await self.run_ended(event)
            case ev.TurnFailed():
                await self.run_failed(event)
            case ev.CommandDone():
                await self.command_done(event)
            case ev.ModelSwitched():
                self.status.model = event.model
                await self.say(f"Now using {event.model}.")
            case _:
                await self.view.show(event)

    def _set_running(self, running: bool) -> None:
        self.running = running
        self.status.busy = running

    async def run_ended(self, event: ev.TurnEnded) -> None:
        ended = event.outcome
        await self.view.end_turn()
        self._set_running(False)
        self.load_files()
        if ended.status == ev.Status.INTERRUPTED:
            await self.say("Interrupted. Nothing half-done was kept; send a message to go on.", "warning")
        if ended.status in (ev.Status.FINISHED, ev.Status.ANSWERED):
            self.last_summary = ended.summary
        if ended.status == ev.Status.FINISHED:
            await self.transcript.add(AssistantEntry(text=ended.summary, streaming=False))
        elif ended.status == ev.Status.STEP_LIMIT:
            await self.say(f"{ended.summary}. Send a message to let it go on.", "warning")
        if self._sent_mode == Mode.PLAN and ended.status in (ev.Status.FINISHED, ev.Status.ANSWERED):
            plan_flow.review_plan(self, ended.summary)

    async def command_done(self, done: ev.CommandDone) -> None:
        if done.command == self._job:
            self._job = ""
            self._set_running(False)
            self.load_files()
        if done.title:
            status = "ok" if done.level == "info" else "error"
            await self.transcript.add(PanelEntry(title=done.title, body=done.message, status=status, expanded=True))
        elif done.message:
            await self.say(done.message, done.level)

    async def run_failed(self, failed: ev.TurnFailed) -> None:
        await self.view.end_turn()
        self._set_running(False)
        what = failed.message
        if failed.server:
            what += "\nYour conversation is kept: once the server is back, send your message again."
        await self.say(what, "error")

    # -- modes -------------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode != Mode.PLAN:
            self.act_mode = mode
        self.mode = mode
        self.status.mode = mode
        if self.session is not None:
            self.session.send(SetMode(Mode(mode)))

    def action_cycle_mode(self) -> None:
        self.set_mode(next_mode(self.mode))
        self.notify(f"mode: {self.mode}", timeout=1.5)

    # -- approvals ---------------------------------------------------------------------------

    def ask_approval(self, needed: ev.ApprovalNeeded) -> None:
        request = needed.request

        def answered(approval: Approval | None) -> None:
            approval = approval or Approval(Answer.NO, "no answer")
            if approval.answer is Answer.STOP and self.running:
                self.notify("Interrupting…", timeout=1.5)
            if self.session is not None:
                self.session.send(AnswerApproval(request.call_id, approval.answer, approval.reason, approval.pattern))

        self.push_screen(ApprovalScreen(request, request.preview), answered)

    # -- keys --------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        """Typing while a panel has the focus (Tab reaches them) goes on in the input box."""
        if event.is_printable and event.character and isinstance(self.focused, Fold):
            prompt = self.query_one(PromptInput)
            prompt.focus()
            prompt.insert(event.character)
            event.stop()

    def action_interrupt(self) -> None:
        if not self.running or self.session is None:
            return
        self.session.send(Interrupt())  # a running command stops now, not at its timeout
        self.notify("Interrupting…", timeout=1.5)

    def action_quit_twice(self) -> None:
        now = time.monotonic()
        if now - self._quit_pressed < QUIT_WINDOW:
            self.exit()
            return
        self._quit_pressed = now
        self.action_interrupt()  # once stops the turn, as in a shell; twice quits
        self.notify("Press Ctrl+C again to quit", timeout=QUIT_WINDOW)

    def action_toggle_side(self) -> None:
        side = self.query_one("#side")
        side.display = not side.display

    def action_scroll_transcript(self, direction: int) -> None:
        if direction < 0:
            self.transcript.scroll_page_up()
        else:
            self.transcript.scroll_page_down()

    async def reset_view(self) -> None:
        await self.transcript.clear()
        self.query_one(PlanPanel).show([])
        self.query_one(FilesPanel).reset()
