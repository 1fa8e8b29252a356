"""The one factory: a Session from a Config, for every front-end.

The TUI, `heron fix` (and each `fix --batch` child run) and `heron review` differ only in the Role
they ask for (tools, prompt, mode, what the session keeps) and in how they render events, so the
probed window, the policy and the redaction hold for all of them alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agent.config import Config, Mode
from agent.context.history import DEFAULT_WINDOW, Budget, Context, answer_tokens, read_instructions
from agent.context.transcript import Transcript
from agent.core.dispatch import Dispatcher
from agent.core.egress import Egress
from agent.core.loop import Loop
from agent.core.policy import DEFAULT_DENY, Policy
from agent.core.session import Session
from agent.events import Warning as WarningEvent
from agent.findings import ReviewScope
from agent.interfaces import Answer, EventSink
from agent.mcp.hub import McpHub
from agent.model.client import OpenAIModel
from agent.model.endpoint import Endpoint, find_endpoint
from agent.repomap import session_map
from agent.repomap.apart import MapProcess
from agent.repomap.turns import MapTurns, map_budget
from agent.sandbox.bubblewrap import ShellSandbox
from agent.sandbox.choose import choose_sandbox
from agent.secrets import KnownSecrets, load_forms, placeholder_key
from agent.vcs.record import open_checkpoints
from agent.vcs.turnlock import LockedTurns
from prompts import render
from tools.base import ShellSettings, Tool, ToolContext
from tools.mcp import mcp_tools
from tools.registry import DEFAULT_TOOLS


@dataclass(frozen=True)
class Role:
    """What a session is for. The TUI and `heron fix` take the defaults; `heron review` its own."""

    tools: tuple[Tool, ...] = DEFAULT_TOOLS
    # The approval mode when the config names none.
    default_mode: Mode = Mode.ASK
    # A headless run's standing answer to what the policy asks; None: ask the front-end by event.
    answer: Answer | None = None
    # The system prompt; empty: prompts/system.md for the workspace.
    system_prompt: str = ""
    # A review's changed lines: its findings must fall in them.
    review_scope: ReviewScope | None = None
    repo_map: bool = True  # a ranked repo map before each user turn
    map_apart: bool = False  # the map in a process of its own (the TUI: its screen must not wait on it)
    instructions: bool = True  # the project's AGENTS.md
    checkpoints: bool = True  # undo's record of each turn


@dataclass(frozen=True)
class Server:
    """A probed model server and its client: one probe, shared by every session opened on it."""

    endpoint: Endpoint
    model: OpenAIModel


def connect(config: Config, emit: EventSink, workspace: Path | None = None) -> Server:
    """Find the server (failing early, in one line, when unreachable) and make its client, whose
    every request passes the egress for `workspace`."""
    endpoint = find_endpoint(config)
    window_warning = endpoint.window_warning()
    if window_warning:
        emit(WarningEvent(window_warning))
    return Server(endpoint, model_client(config, endpoint, open_egress(config, workspace)))


def open_session(config: Config, workspace: Path, emit: EventSink, role: Role = Role(),
                 transcript: Transcript | None = None, server: Server | None = None,
                 sandbox: ShellSandbox | None = None) -> Session:
    """The session for `workspace`; recorded in `transcript` (and restored from it when resumed).
    `sandbox`: the shell's when the caller made it (a batch task's container), else config's."""
    if transcript is not None:
        emit = transcript.recording(emit)
    # Before the server is asked anything: `sandbox = require` without bubblewrap is a config error.
    if sandbox is None and any(t.kind == "shell" for t in role.tools):
        sandbox, sandbox_warning = choose_sandbox(config.sandbox, workspace, config.network,
                                                   disk_budget_mb=config.disk_budget_mb)
        if sandbox_warning:
            emit(WarningEvent(sandbox_warning))
    server = server or connect(config, emit, workspace)
    # Turn boundaries feed undo.
    checkpoints = open_checkpoints(workspace, emit) if role.checkpoints else None
    ctx = ToolContext(workspace=workspace.resolve(),
                      shell=ShellSettings(config.shell_timeout, config.shell_idle_timeout, sandbox),
                      on_change=checkpoints.before_change if checkpoints else None, review_scope=role.review_scope,
                      secret_files=config.secret_files)
    if role.map_apart:
        ctx.repo_map = MapProcess(ctx.workspace, ctx.secret_files)
    policy = Policy(mode=Mode(config.approval or role.default_mode), allow=config.allow, ask=config.ask,
                    deny=DEFAULT_DENY + config.deny, sandboxed=sandbox is not None)
    # MCP servers' tools, which may do anything, stay out of a role whose tools only read (review).
    mcp = McpHub(config.mcp_servers, notice=lambda text: emit(WarningEvent(text))) \
        if config.mcp_servers and any(t.mutates for t in role.tools) else None
    session = Session(config, ctx, server.endpoint, server.model, policy, checkpoints, emit, role.answer, transcript,
                      mcp)
    ctx.findings = session.found
    dispatcher = Dispatcher(role.tools, policy, session.approve, ctx, restore=server.model.egress.restore,
                            more_tools=(lambda: mcp_tools(mcp)) if mcp else None)
    system_prompt = role.system_prompt or render("system", workspace=str(ctx.workspace))
    session.loop = Loop(
        server.model,
        dispatcher,
        system_prompt,
        emit,
        max_steps=config.max_steps,
        cancel=session.cancel,
        context_window=server.endpoint.context_window,
        # One turn at a time in a tree; the wait for another heron's ends when the user interrupts.
        observer=LockedTurns(checkpoints, workspace, emit, session.cancel) if checkpoints else None,
        context=open_context(config, server.endpoint, ctx, system_prompt, dispatcher.schemas(), transcript,
                             role.instructions),
        turn_context=map_turns(config, server.endpoint, ctx) if role.repo_map else None,
        between_steps=session.apply_pending,
    )
    return session


def open_context(config: Config, endpoint: Endpoint, ctx: ToolContext, system_prompt: str,
                 schemas: list[dict], transcript: Transcript | None, instructions: bool) -> Context:
    window = endpoint.context_window or DEFAULT_WINDOW
    budget = Budget(window, answer_tokens(config.max_output_tokens, window), config.compact_at)
    restored = transcript.restored if transcript else None
    if restored and restored.plan is not None:
        ctx.plan = restored.plan
    return Context(system_prompt, schemas, budget, ctx.outputs,
                   instructions=read_instructions(ctx.workspace) if instructions else None,
                   record=transcript.record if transcript else None, restored=restored)


def open_egress(config: Config, workspace: Path | None) -> Egress:
    """The one door out for the requests of a session in `workspace` (None: no workspace)."""
    # The server's key may come from a file rather than the environment: redact it as well.
    known = KnownSecrets.from_env(workspace.resolve() if workspace else None,
                                  {**os.environ, "HERON_API_KEY": config.api_key})
    load_forms()
    return Egress(known.values, placeholder_key())


def model_client(config: Config, endpoint: Endpoint, egress: Egress, enable_thinking: bool | None = None,
                 max_output_tokens: int | None = None) -> OpenAIModel:
    """The model client for this server, with the request extras its kind takes; every request
    it sends passes `egress`."""
    thinking = config.enable_thinking if enable_thinking is None else enable_thinking
    return OpenAIModel(
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=config.api_key,
        max_retries=config.max_retries,
        timeout=config.request_timeout,
        temperature=config.temperature,
        max_output_tokens=max_output_tokens or answer_tokens(config.max_output_tokens, endpoint.context_window),
        extra_body=endpoint.request_extras(thinking),
        stream=config.stream,
        server_kind=endpoint.kind,
        egress=egress,
    )


def map_turns(config: Config, endpoint: Endpoint, ctx: ToolContext) -> MapTurns | None:
    """The repo map for each user turn, within its budget."""
    budget = map_budget(config, endpoint)
    return MapTurns(session_map(ctx), budget) if budget > 0 else None
