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
from agent.dispatch import Dispatcher
from agent.errors import ServerError
from agent.interfaces import Approver, EventSink
from agent.loop import Loop
from agent.model import OpenAIModel, unreachable
from agent.repomap import DEFAULT_BUDGET as DEFAULT_MAP_BUDGET
from agent.repomap import REPOMAP_RESOURCE, RepoMap
from agent.repomap.turns import MapTurns
from prompts import render
from tools.base import Tool, ToolContext
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

    def close(self) -> None:
        self.ctx.close()


def open_runtime(
    config: Config,
    workspace: Path,
    emit: EventSink,
    approver: Approver,
    default_mode: str,
    tools: tuple[Tool, ...] = DEFAULT_TOOLS,
) -> Runtime:
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
    loop = Loop(
        model,
        dispatcher,
        render("system", workspace=str(ctx.workspace)),
        emit,
        max_steps=config.max_steps,
        cancel=cancel,
        context_window=config.context_window,
        turn_context=map_turns(config, ctx),
    )
    return Runtime(config, ctx.workspace, model, ctx, loop, cancel)


def map_turns(config: Config, ctx: ToolContext) -> MapTurns | None:
    """The repo map for each user turn, within its budget: configured, or a quarter of the window."""
    budget = config.map_tokens
    if budget is None:
        budget = config.context_window // 4 if config.context_window else DEFAULT_MAP_BUDGET
    if budget <= 0:
        return None
    # A resource of the session, so the symbols tool shares the same index.
    return MapTurns(ctx.resource(REPOMAP_RESOURCE, lambda: RepoMap(ctx.workspace)), budget)


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
