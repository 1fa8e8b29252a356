"""Tool, ToolResult and ToolContext: the one shape every tool has.

A tool is a typed function: its name, its docstring (the description the model reads), an
argument model (a pydantic model, which yields the JSON schema and validates the call), whether
it mutates, and what kind of permission it needs. Tools never print and never ask: the
dispatcher consults the policy before `run`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, get_type_hints

from pydantic import BaseModel, ValidationError

from agent.config import SHELL_IDLE_TIMEOUT, SHELL_TIMEOUT
from agent.errors import ToolError
from agent.findings import Finding, ReviewScope
from agent.images import Picture
from agent.secrets import DEFAULT_SECRET_FILES
from tools.output_store import OutputStore

if TYPE_CHECKING:  # engines with heavy imports, started only when a tool needs them
    from agent.repomap import RepoMap
    from agent.repomap.apart import MapProcess
    from agent.sandbox.bubblewrap import ShellSandbox
    from agent.sandbox.shell import ShellSession

__all__ = ["InvalidArguments", "Kind", "ShellSettings", "TaskFinished", "Tool", "ToolContext", "ToolError",
           "ToolResult", "tool"]

# `mcp`: a tool of an MCP server, which may do anything; the policy asks unless told otherwise.
Kind = Literal["read", "edit", "shell", "meta", "mcp"]


class InvalidArguments(ToolError):
    """The call's arguments do not fit the tool's schema."""


class TaskFinished(Exception):
    """Raised by the `finish` tool: the model says the task is done."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


@dataclass
class ToolResult:
    output: str
    is_error: bool = False
    # Tool-specific data for front-ends (an edit's diff, the plan); never sent to the model.
    data: dict[str, Any] = field(default_factory=dict)
    # Images for the model to see (view_image, an MCP server's answer), sent after the tool answers.
    pictures: list[Picture] = field(default_factory=list)
    # For the user as warning events (the model reads them in `output`): what heron undid or
    # refused of the tool's effects, such as a sandboxed command's escape attempt.
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ShellSettings:
    """How the model's shell runs: its timeouts (Config's defaults) and its sandbox, if any."""

    timeout: float = SHELL_TIMEOUT
    idle_timeout: float = SHELL_IDLE_TIMEOUT
    sandbox: ShellSandbox | None = None


@dataclass
class ToolContext:
    """What the tools of one session share. Built by the core's factory, owned by the session."""

    workspace: Path
    shell: ShellSettings = field(default_factory=ShellSettings)
    # Told before a tool changes a file, so the session can keep what was there (undo's journal).
    on_change: Callable[[Path], None] | None = None
    # A review's changed lines, which findings must fall in, and where its findings go.
    review_scope: ReviewScope | None = None
    findings: Callable[[Finding], None] | None = None
    # The model's plan (the todo tool's items), kept across compactions and resumes.
    plan: list[dict[str, str]] | None = None
    # The content stamp of each file as last read: an edit of a file changed since is refused.
    read_stamps: dict[Path, str] = field(default_factory=dict)
    # Long outputs kept whole for read_output.
    outputs: OutputStore = field(default_factory=OutputStore)
    # Engines started on first use and closed with the session.
    shell_session: ShellSession | None = None
    repo_map: RepoMap | MapProcess | None = None
    # File-name patterns of secret files: named in the map and search results, never quoted there.
    secret_files: tuple[str, ...] = DEFAULT_SECRET_FILES

    def before_change(self, path: Path) -> None:
        if self.on_change is not None:
            self.on_change(path)

    def interrupt(self) -> None:
        """Stop the command the shell runs now; called from another thread."""
        if self.shell_session is not None:
            self.shell_session.interrupt()

    def close(self) -> list[str]:
        """Close the engines; what closing the shell undid or refused, for the user."""
        warnings = self.shell_session.close() if self.shell_session is not None else []
        if self.repo_map is not None:
            self.repo_map.close()
        self.shell_session = self.repo_map = None
        return warnings


Runner = Callable[[Any, ToolContext], "ToolResult | str"]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    # The arguments' shape: a pydantic model (heron's own tools), or for a tool that comes from
    # elsewhere (an MCP server) its JSON schema as given, checked with jsonschema.
    args_model: type[BaseModel] | None
    kind: Kind
    run_fn: Runner
    # The text a rule matches and an approval shows: the command, or the path being changed.
    subject_fn: Callable[[Any], str] | None = None
    parameters: dict[str, Any] | None = None

    @property
    def mutates(self) -> bool:
        return self.kind in ("edit", "shell", "mcp")

    def schema(self) -> dict[str, Any]:
        """The OpenAI function schema; built the same way every time so the prompt prefix is stable."""
        parameters = self.args_model.model_json_schema() if self.args_model else self.parameters or {}
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": _clean_schema(parameters)},
        }

    def parse(self, arguments: dict[str, Any]) -> Any:
        """The call's arguments checked against the schema; InvalidArguments says what is wrong."""
        if self.args_model is None:
            return _checked_json(self.parameters or {}, arguments)
        try:
            return self.args_model.model_validate(arguments)
        except ValidationError as e:
            raise InvalidArguments("; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in e.errors()
            )) from None

    def subject(self, args: Any) -> str:
        return self.subject_fn(args) if self.subject_fn else ""

    def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        result = self.run_fn(args, ctx)
        return result if isinstance(result, ToolResult) else ToolResult(str(result))


def tool(kind: Kind, subject: Callable[[Any], str] | None = None) -> Callable[[Runner], Tool]:
    """Make a Tool from `def name(args: ArgsModel, ctx: ToolContext)` with a docstring."""

    def wrap(fn: Runner) -> Tool:
        hints = get_type_hints(fn)
        first = next(iter(inspect.signature(fn).parameters))
        return Tool(
            name=fn.__name__,
            description=inspect.getdoc(fn) or "",
            args_model=hints[first],
            kind=kind,
            run_fn=fn,
            subject_fn=subject,
        )

    return wrap


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop pydantic's 'title' keys: they cost tokens and tell the model nothing."""
    if isinstance(schema, dict):
        return {
            k: _clean_schema(v)
            for k, v in schema.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def _checked_json(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    import jsonschema  # only tools from elsewhere have a bare JSON schema

    try:
        problems = sorted(jsonschema.Draft202012Validator(schema).iter_errors(arguments), key=lambda e: list(e.path))
    except jsonschema.SchemaError as e:
        raise InvalidArguments(f"the tool's own schema is invalid: {e.message}") from None
    if problems:
        raise InvalidArguments("; ".join(f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}"
                                         for e in problems[:5]))
    return arguments
