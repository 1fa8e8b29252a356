"""Assembles one working agent from a Config: server, model client, tools, policy and loop.

Every front-end builds its agent here, so the TUI, `heron fix` and `heron review` differ only in
how they render events and answer approvals.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import Config
from agent.context.history import DEFAULT_WINDOW, Budget, Context, answer_tokens, read_instructions
from agent.context.transcript import Transcript
from agent.core.dispatch import Dispatcher
from agent.core.egress import Egress
from agent.core.loop import Loop
from agent.core.policy import DEFAULT_DENY, Policy
from agent.events import Warning as WarningEvent
from agent.interfaces import Approver, EventSink
from agent.mcp.hub import McpHub
from agent.model.client import OpenAIModel
from agent.model.endpoint import Endpoint, find_endpoint
from agent.repomap import DEFAULT_BUDGET as DEFAULT_MAP_BUDGET
from agent.repomap import session_map
from agent.repomap.turns import MapTurns
from agent.sandbox.bubblewrap import choose_sandbox
from agent.secrets import SECRET_FILES_KEY, KnownSecrets, placeholder_key
from agent.vcs.checkpoints import Checkpoints, open_checkpoints
from prompts import render
from tools.base import Tool, ToolContext
from tools.mcp import mcp_tools
from tools.outputs import STATE_KEY, OutputStore
from tools.registry import DEFAULT_TOOLS


@dataclass
class Runtime:
    config: Config
    workspace: Path
    model: OpenAIModel
    ctx: ToolContext
    loop: Loop
    checkpoints: Checkpoints
    cancel: threading.Event = field(default_factory=threading.Event)
    endpoint: Endpoint | None = None
    # Where the front-end's own events go too: its sink, recorded in the session if there is one.
    emit: EventSink = lambda event: None
    mcp: McpHub | None = None

    def close(self) -> None:
        self.ctx.close()
        if self.mcp is not None:
            self.mcp.close()


def open_runtime(
    config: Config,
    workspace: Path,
    emit: EventSink,
    approver: Approver,
    default_mode: str,
    tools: tuple[Tool, ...] = DEFAULT_TOOLS,
    session: Transcript | None = None,
) -> Runtime:
    """The agent for `workspace`; with a session, recorded there (and restored if resumed)."""
    if session is not None:
        emit = session.recording(emit)
    # Before the server is asked anything: `sandbox = require` without bubblewrap is a config error.
    sandbox, sandbox_warning = choose_sandbox(config.sandbox, workspace, config.network,
                                               disk_budget_mb=config.disk_budget_mb)
    if sandbox_warning:
        emit(WarningEvent(sandbox_warning))
    endpoint = find_endpoint(config)  # also fails early, in one line, when unreachable
    window_warning = endpoint.window_warning()
    if window_warning:
        emit(WarningEvent(window_warning))
    egress = open_egress(config, workspace)
    model = model_client(config, endpoint, egress)
    checkpoints = open_checkpoints(workspace, emit)  # turn boundaries feed undo
    ctx = ToolContext(workspace=workspace.resolve(), state={
        "shell_timeout": config.shell_timeout, "shell_idle_timeout": config.shell_idle_timeout,
        "sandbox": sandbox, SECRET_FILES_KEY: config.secret_files,
    }, on_change=checkpoints.before_change)
    policy = Policy(
        mode=config.approval or default_mode,
        allow=config.allow,
        ask=config.ask,
        deny=DEFAULT_DENY + config.deny,
        sandboxed=sandbox is not None,
    )
    hub = McpHub(config.mcp_servers, notice=lambda text: emit(WarningEvent(text))) if config.mcp_servers else None
    dispatcher = Dispatcher(tools, policy, approver, ctx, restore=egress.restore,
                            more_tools=(lambda: mcp_tools(hub)) if hub and not read_only(tools) else None)
    cancel = threading.Event()
    system_prompt = render("system", workspace=str(ctx.workspace))
    loop = Loop(
        model,
        dispatcher,
        system_prompt,
        emit,
        max_steps=config.max_steps,
        cancel=cancel,
        context_window=endpoint.context_window,
        observer=checkpoints,
        context=open_context(config, endpoint, ctx, system_prompt, dispatcher.schemas(), session),
        turn_context=map_turns(config, endpoint, ctx),
    )
    return Runtime(config, ctx.workspace, model, ctx, loop, checkpoints, cancel, endpoint, emit, hub)


def open_context(config: Config, endpoint: Endpoint, ctx: ToolContext, system_prompt: str,
                 schemas: list[dict], session: Transcript | None) -> Context:
    window = endpoint.context_window or DEFAULT_WINDOW
    budget = Budget(window, answer_tokens(config.max_output_tokens, window), config.compact_at)
    restored = session.restored if session else None
    if restored and restored.plan is not None:
        ctx.state["plan"] = restored.plan
    return Context(system_prompt, schemas, budget, ctx.resource(STATE_KEY, OutputStore),
                   instructions=read_instructions(ctx.workspace),
                   record=session.record if session else None, restored=restored)


def open_egress(config: Config, workspace: Path | None) -> Egress:
    """The one door out for the requests of a session in `workspace` (None: no workspace)."""
    # The server's key may come from a file rather than the environment: redact it as well.
    known = KnownSecrets.from_env(workspace.resolve() if workspace else None,
                                  {**os.environ, "HERON_API_KEY": config.api_key})
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


def map_budget(config: Config, endpoint: Endpoint | None) -> int:
    """The repo map's token budget: configured, or a quarter of the window; 0 turns the map off."""
    if config.map_tokens is not None:
        return config.map_tokens
    window = endpoint.context_window if endpoint else None
    return window // 4 if window else DEFAULT_MAP_BUDGET


def map_turns(config: Config, endpoint: Endpoint, ctx: ToolContext) -> MapTurns | None:
    """The repo map for each user turn, within its budget."""
    budget = map_budget(config, endpoint)
    return MapTurns(session_map(ctx), budget) if budget > 0 else None


def read_only(tools: tuple[Tool, ...]) -> bool:
    """A tool set that changes nothing (review's): MCP tools, which may do anything, stay out."""
    return not any(t.mutates for t in tools)
