"""The Session API: the one door into the core, after Codex CLI's submission/event protocol.

A front-end opens a Session with the factory (agent/core/build.py), sends it commands from any
thread and reads its events from the sink it gave. Commands are queued and applied by the core's
own thread between steps of the loop; Interrupt alone acts at once, stopping the running shell
command or stream. Nothing outside the core assigns to the loop, the dispatcher, the policy or the
model: a command asks the core to.

Headless front-ends (`heron fix`, review chunks) call `turn` on their own thread, which is then
the core's thread; the TUI calls `start` and sends Submit.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import priority
from agent.config import Config, Mode
from agent.context.transcript import (
    SessionInfo,
    Transcript,
    entries,
    find_session,
    latest_session,
    list_sessions,
    session_info,
)
from agent.core.dispatch import deny_all
from agent.core.policy import Policy
from agent.errors import HeronError, ServerError
from agent.events import (
    ApprovalNeeded,
    CommandDone,
    Committed,
    FindingReported,
    ModeChanged,
    ModelSwitched,
    Outcome,
    TurnEnded,
    TurnFailed,
    Warning,
)
from agent.findings import Finding
from agent.images import Picture
from agent.interfaces import Answer, Approval, ApprovalRequest, EventSink
from agent.mcp.hub import McpHub, ServerState
from agent.mcp.report import describe
from agent.model.endpoint import Endpoint, served_models
from agent.model.tokens import count_tokens
from agent.repomap import session_map
from agent.repomap.turns import map_budget
from agent.vcs.branches import Workplace, close_workplace, open_workplace
from agent.vcs.checkpoints import Checkpoints, GitCheckpoints
from agent.vcs.commit import CommitFailed, check_can_commit, commit_session
from prompts import render
from tools.base import ToolContext

if TYPE_CHECKING:
    from agent.core.loop import Loop
    from agent.model.client import OpenAIModel

# What front-ends use, through this door, before a session opens and after it closes: recorded
# sessions, and the branch or worktree `heron fix` works in.
__all__ = ["CommitFailed", "SessionInfo", "Transcript", "Workplace", "check_can_commit",
           "close_workplace", "entries", "find_session", "latest_session", "list_sessions", "open_workplace",
           "session_info"]


@dataclass(frozen=True)
class Submit:
    """A user message or task. fresh_budget: the turn gets the whole step budget (not a follow-up)."""

    text: str
    fresh_budget: bool = True
    # Images attached to the message (the TUI's @shot.png, `fix --image`).
    pictures: tuple[Picture, ...] = ()


@dataclass(frozen=True)
class Interrupt:
    """Stop what runs now; applied at once, not queued."""


@dataclass(frozen=True)
class AnswerApproval:
    call_id: str
    answer: Answer
    reason: str = ""
    pattern: str = ""  # with Answer.ALWAYS


@dataclass(frozen=True)
class SetMode:
    """The approval mode from the next step on; plan mode is read-only without allow rules."""

    mode: Mode


@dataclass(frozen=True)
class SwitchModel:
    """Use another model the server serves; an empty name lists them."""

    name: str = ""


@dataclass(frozen=True)
class Compact:
    """Summarize the older turns now."""


@dataclass(frozen=True)
class Pin:
    """Keep `fact` in front of the model, told at the next user turn and kept through compactions."""

    fact: str


@dataclass(frozen=True)
class Unpin:
    fact: str  # as it was pinned


@dataclass(frozen=True)
class Undo:
    """Put the files back as they were before the last `turns` turns."""

    turns: int = 1


@dataclass(frozen=True)
class Commit:
    summary: str  # what the model's commit message starts from


@dataclass(frozen=True)
class ShowMap:
    """The repo map the model would get for `task`, within the session's budget."""

    task: str = ""


@dataclass(frozen=True)
class ShowMcp:
    """The MCP servers, their state and their tools, as `heron mcp list` shows them; starts any not tried yet."""


@dataclass(frozen=True)
class _Stop:
    """The core thread's last command (close)."""


Command = (Submit | Interrupt | AnswerApproval | SetMode | SwitchModel | Compact | Pin | Unpin | Undo
           | Commit | ShowMap | ShowMcp)

# Why a headless run's standing answer was given.
STANDING_REASONS = {Answer.YES: "approved by --yes"}
UNDONE_NOTE = "\nThe model re-reads these files before it edits them again."


class Session:
    def __init__(self, config: Config, ctx: ToolContext, endpoint: Endpoint, model: OpenAIModel,
                 policy: Policy, checkpoints: Checkpoints | None, emit: EventSink, answer: Answer | None,
                 transcript: Transcript | None, mcp: McpHub | None = None) -> None:
        self.config = config
        self.mcp = mcp  # the MCP servers whose tools the session offers; stopped with it
        self.policy = policy  # as configured: modes and allowed patterns are applied on top of it
        self.ctx = ctx
        self.endpoint = endpoint
        self.model = model
        self.checkpoints = checkpoints
        self.emit = emit  # the front-end's sink, recorded in the transcript when there is one
        self.answer = answer
        self.transcript = transcript
        self.loop: Loop  # set by the factory, which builds the loop around this session
        self.cancel = threading.Event()
        self._commands: queue.Queue[Command | _Stop] = queue.Queue()
        self._deferred: deque[Submit] = deque()  # messages sent while a turn runs wait for it
        self._allowed: tuple[str, ...] = ()  # patterns the user allowed with Answer.ALWAYS
        self._mode: Mode | None = None
        self._closed = threading.Event()
        # The first message after a resume tells the model the session was resumed.
        self._resumed = transcript is not None and transcript.restored is not None

    # -- what a front-end may read ---------------------------------------------------------------

    @property
    def workspace(self) -> Path:
        return self.ctx.workspace

    @property
    def model_name(self) -> str:
        return self.model.model

    @property
    def base_url(self) -> str:
        return self.model.base_url

    @property
    def context_window(self) -> int | None:
        return self.endpoint.context_window

    @property
    def plan(self) -> list[dict[str, str]]:
        return list(self.ctx.plan or [])

    @property
    def messages(self) -> list[dict[str, Any]]:
        """A copy of the history as the model sees it."""
        return list(self.loop.messages)

    @property
    def used_tokens(self) -> int:
        return self.loop.context.used

    def diff_stat(self) -> str:
        return self.checkpoints.diff_stat() if self.checkpoints else ""

    # -- commands in -------------------------------------------------------------------------------

    def send(self, command: Command) -> None:
        """Queue a command for the core's thread, from any thread; Interrupt acts at once."""
        if isinstance(command, Interrupt):
            self.interrupt()
        else:
            self._commands.put(command)

    def interrupt(self) -> None:
        self.cancel.set()
        self.ctx.interrupt()  # a running command stops now, not at its timeout

    def start(self, give_way: int = 0) -> None:
        """Run the core on a thread of its own, taking commands until close; `give_way` lowers
        its priority and that of the processes it starts (see agent/priority.py)."""
        threading.Thread(target=self._serve, args=(give_way,), name="heron-core", daemon=True).start()

    def turn(self, text: str, fresh_budget: bool = True, pictures: tuple[Picture, ...] = ()) -> Outcome:
        """Work on one message on the calling thread (headless front-ends); HeronError propagates."""
        self.apply_pending()
        if fresh_budget:
            self.loop.steps = 0
        self.cancel.clear()
        return self.loop.run(self._prompt(text), pictures)

    def commit(self, summary: str, worktree: str = "", discard: bool = False) -> Committed | None:
        """Commit what the agent changed (headless); None when nothing was. CommitFailed propagates.
        discard: forget the turns' record once committed (the worktree it describes is going)."""
        checkpoints = self._git_checkpoints()
        event = commit_session(checkpoints, self.model, self.loop.messages, self.loop.context.tools,
                               summary, self.emit, worktree=worktree)
        if event is not None and discard:
            checkpoints.discard()
        return event

    def _git_checkpoints(self) -> GitCheckpoints:
        if not isinstance(self.checkpoints, GitCheckpoints):
            raise HeronError(f"{self.workspace} is not a git repository: there is nothing to commit to")
        return self.checkpoints

    def close(self) -> None:
        """Stop what runs and the core's thread, and close the tools (not the transcript). The thread
        is a daemon that ends at its next check: closing never waits on a silent server."""
        self._closed.set()
        self.interrupt()
        self._commands.put(_Stop())
        for warning in self.ctx.close():
            self.emit(Warning(warning))
        if self.mcp is not None:
            self.mcp.close()

    # -- the core's side ---------------------------------------------------------------------------

    def apply_pending(self) -> None:
        """Apply the commands sent since the last step; messages wait for the turn to end."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if isinstance(command, Submit):
                self._deferred.append(command)
            elif not isinstance(command, _Stop):
                self._apply(command)
            else:
                self._commands.put(command)  # for the thread's own loop
                return

    def approve(self, request: ApprovalRequest) -> Approval:
        """The dispatcher's approver: the standing answer, or the user's, asked for by event."""
        if self.answer is Answer.NO:
            return deny_all(request)
        if self.answer is not None:
            return Approval(self.answer, STANDING_REASONS.get(self.answer, ""))
        self.emit(ApprovalNeeded(request))
        while not self._closed.is_set():
            if self.cancel.is_set():
                return Approval(Answer.STOP, "the user stopped the run")
            try:
                command = self._commands.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(command, AnswerApproval) and command.call_id == request.call_id:
                return self._answered(command)
            if isinstance(command, Submit):
                self._deferred.append(command)
            elif isinstance(command, _Stop):
                self._commands.put(command)
                break
            else:
                self._apply(command)
        return Approval(Answer.NO, "heron was closed before the user answered")

    def found(self, finding: Finding) -> None:
        """Where report_finding sends a finding: out as an event, for the review's sink."""
        self.emit(FindingReported(finding))

    def _answered(self, command: AnswerApproval) -> Approval:
        if command.answer is Answer.ALWAYS and command.pattern:
            self._allowed += (command.pattern,)
            self._set_policy()
        if command.answer is Answer.STOP:
            self.interrupt()
        return Approval(command.answer, command.reason, command.pattern)

    def _serve(self, give_way: int) -> None:
        priority.give_way(give_way)
        while True:
            command = self._deferred.popleft() if self._deferred else self._commands.get()
            if isinstance(command, _Stop):
                return
            if isinstance(command, Submit):
                self._run_turn(command)
            else:
                self._apply(command)

    def _run_turn(self, submit: Submit) -> None:
        try:
            outcome = self.turn(submit.text, submit.fresh_budget, submit.pictures)
        except HeronError as e:
            self.emit(TurnFailed(str(e), isinstance(e, ServerError)))
            return
        except Exception as e:  # a bug must not take the user's session down with it
            self.emit(TurnFailed(f"heron hit an internal error: {type(e).__name__}: {e}", False))
            return
        self.emit(TurnEnded(outcome))

    def _prompt(self, text: str) -> str:
        if not self._resumed:
            return text
        self._resumed = False
        return render("resume", note=f"The user adds: {text.strip()}\n\n" if text.strip() else "")

    def _apply(self, command: Command) -> None:
        name = type(command).__name__.lower()
        try:
            self._handle(command, name)
        except HeronError as e:
            self.emit(CommandDone(name, str(e), "error"))
        except Exception as e:  # a bug must not take the user's session down with it
            self.emit(CommandDone(name, f"heron hit an internal error: {type(e).__name__}: {e}", "error"))

    def _handle(self, command: Command, name: str) -> None:
        match command:
            case SetMode(mode=mode):
                self._mode = Mode(mode)
                self._set_policy()
                self.emit(ModeChanged(self._mode))
            case SwitchModel():
                self._switch_model(command.name)
            case Compact():
                done = self.loop.compact("requested")
                self.emit(CommandDone(name, "" if done else "Nothing to compact yet: the conversation has no older turns."))
            case Pin(fact=fact):
                self.loop.context.pin(fact)
                self.emit(CommandDone(name, f"Pinned: {fact}"))
            case Unpin(fact=fact):
                done = self.loop.context.unpin(fact)
                self.emit(CommandDone(name, f"Unpinned: {fact}" if done else f"Nothing pinned reads: {fact}",
                                      "info" if done else "warning"))
            case Undo(turns=turns):
                if self.checkpoints is None:
                    raise HeronError("this session keeps no record of its turns to undo")
                self.emit(CommandDone(name, self.checkpoints.undo(turns).describe() + UNDONE_NOTE))
            case Commit(summary=summary):
                self._git_checkpoints()
                check_can_commit(self.workspace, on_new_branch=False)
                self.emit(CommandDone(name, "" if self.commit(summary) else "Nothing was committed."))
            case ShowMap(task=task):
                self._show_map(task)
            case ShowMcp():
                self._show_mcp()
            case AnswerApproval():
                pass  # an answer to a request that is no longer waiting (the run was stopped)

    def _set_policy(self) -> None:
        self.loop.dispatcher.policy = self.policy.in_mode(self._mode or self.policy.mode, self._allowed)

    def _switch_model(self, name: str) -> None:
        served = served_models(self.model.base_url, self.config)
        if not name:
            listed = "\n".join(f"{'→' if m == self.model.model else ' '} {m}" for m in served)
            self.emit(CommandDone("switchmodel", f"Models at {self.model.base_url}:\n{listed}\n/model NAME switches."))
        elif name not in served:
            self.emit(CommandDone("switchmodel", f"{self.model.base_url} does not serve '{name}'; it serves: "
                                                 f"{', '.join(served)}", "warning"))
        else:
            self.model.model = name
            self.emit(ModelSwitched(name))

    def _show_map(self, task: str) -> None:
        budget = map_budget(self.config, self.endpoint)
        if budget <= 0:
            self.emit(CommandDone("showmap", "The repo map is off (map_tokens = 0).", "warning"))
            return
        index = session_map(self.ctx)
        index.refresh()
        text = index.render(task=task, budget=budget).text
        title = f"repo map: {index.stats.files} files, {count_tokens(text):,} of {budget:,} tokens"
        self.emit(CommandDone("showmap", text or "(no source files found)",
                              title=title + (f", for: {task}" if task else "")))

    def _show_mcp(self) -> None:
        if self.mcp is None:
            self.emit(CommandDone("showmcp", describe(())))
            return
        self.mcp.start()  # the tools offered change only at the next turn; this only reports
        statuses = list(self.mcp.status.values())
        ready = sum(s.state is ServerState.READY for s in statuses)
        self.emit(CommandDone("showmcp", describe(statuses), "info" if ready == len(statuses) else "warning",
                              title=f"MCP servers: {ready} of {len(statuses)} ready"))
