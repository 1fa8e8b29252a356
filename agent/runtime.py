"""Assembles one working agent from a Config: server, model client, tools, policy and loop.

Every front-end builds its agent here, so the TUI, `heron fix` and `heron review` differ only in
how they render events and answer approvals.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import openai

from agent.config import Config
from agent.context import DEFAULT_WINDOW, Budget, Context, read_instructions
from agent.dispatch import Dispatcher
from agent.errors import ServerError
from agent.interfaces import Approver, EventSink
from agent.loop import Loop
from agent.model import OpenAIModel, unreachable
from agent.session import Session
from prompts import render
from tools.base import Tool, ToolContext
from tools.outputs import STATE_KEY, OutputStore
from tools.policy import DEFAULT_DENY, Policy
from tools.registry import DEFAULT_TOOLS

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


@dataclass
class Runtime:
    config: Config
    workspace: Path
    model: OpenAIModel
    ctx: ToolContext
    loop: Loop
    cancel: threading.Event = field(default_factory=threading.Event)
    # Where the front-end's own events go too: its sink, recorded in the session if there is one.
    emit: EventSink = lambda event: None

    def close(self) -> None:
        self.ctx.close()


def open_runtime(
    config: Config,
    workspace: Path,
    emit: EventSink,
    approver: Approver,
    default_mode: str,
    tools: tuple[Tool, ...] = DEFAULT_TOOLS,
    session: Session | None = None,
) -> Runtime:
    """The agent for `workspace`; with a session, recorded there (and restored if resumed)."""
    if session is not None:
        emit = session.recording(emit)
    base_url = config.base_url or DEFAULT_BASE_URL
    served = served_models(base_url, config)  # also fails early, in one line, when unreachable
    model_name = config.model or served[0]
    model = OpenAIModel(
        base_url=base_url,
        model=model_name,
        api_key=config.api_key,
        max_retries=config.max_retries,
        timeout=config.request_timeout,
        temperature=config.temperature,
        max_output_tokens=config.max_output_tokens,
    )
    ctx = ToolContext(workspace=workspace.resolve(), state={"shell_timeout": config.shell_timeout})
    policy = Policy(
        mode=config.approval or default_mode,
        allow=config.allow,
        ask=config.ask,
        deny=DEFAULT_DENY + config.deny,
    )
    dispatcher = Dispatcher(tools, policy, approver, ctx)
    cancel = threading.Event()
    system_prompt = render("system", workspace=str(ctx.workspace))
    loop = Loop(
        model,
        dispatcher,
        system_prompt,
        emit,
        max_steps=config.max_steps,
        cancel=cancel,
        context_window=config.context_window,
        context=open_context(config, ctx, system_prompt, dispatcher.schemas(), session),
    )
    return Runtime(config, ctx.workspace, model, ctx, loop, cancel, emit)


def open_context(config: Config, ctx: ToolContext, system_prompt: str, schemas: list[dict],
                 session: Session | None) -> Context:
    budget = Budget(config.context_window or DEFAULT_WINDOW, config.max_output_tokens, config.compact_at)
    restored = session.restored if session else None
    if restored and restored.plan is not None:
        ctx.state["plan"] = restored.plan
    return Context(system_prompt, schemas, budget, ctx.resource(STATE_KEY, OutputStore),
                   instructions=read_instructions(ctx.workspace),
                   record=session.record if session else None, restored=restored)


def served_models(base_url: str, config: Config) -> list[str]:
    """The models the server lists; the first is used when none is configured."""
    client = openai.OpenAI(base_url=base_url, api_key=config.api_key, max_retries=config.max_retries,
                           timeout=30.0)
    try:
        models = client.models.list().data
    except (openai.APIConnectionError, openai.APITimeoutError):
        raise unreachable(base_url) from None
    except openai.APIError as e:
        raise ServerError(f"the server at {base_url} did not list its models: {e}") from None
    if not models:
        raise ServerError(f"the server at {base_url} serves no model; load one or set --model")
    return [m.id for m in models]
