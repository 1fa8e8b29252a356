"""One frozen Config, merged in layers: defaults < user file < repo file < environment < flags.

Each field is documented once, here; the README's configuration table is generated from the same
metadata in spirit (keep them in step).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, Mapping

from agent.errors import UsageError
from agent.mcp.servers import McpServer, merge_servers, parse_servers, read_mcp_json
from agent.secrets import DEFAULT_SECRET_FILES


class Mode(StrEnum):
    """How much the agent may do unasked. PLAN is the TUI's read-only planning, never configured."""

    PLAN = "plan"
    READ_ONLY = "read-only"
    ASK = "ask"
    AUTO_EDIT = "auto-edit"
    FULL_AUTO = "full-auto"


APPROVAL_MODES = tuple(m.value for m in Mode if m is not Mode.PLAN)
# The shell's defaults, here once: Config's fields and the tools' settings both start from them.
SHELL_TIMEOUT = 120.0
SHELL_IDLE_TIMEOUT = 60.0
FULL_WINDOW = 262_144  # Qwen3.6-27B's native context length, the window heron is built for
SANDBOX_MODES = ("auto", "require", "landlock", "off")
# `fix --batch --container ENGINE`: each task's shell runs in a container of its own.
CONTAINER_ENGINES = ("docker", "podman")


def _doc(text: str, **kwargs: Any) -> Any:
    return field(metadata={"doc": text}, **kwargs)


@dataclass(frozen=True)
class Config:
    base_url: str | None = _doc("OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1; found by probing when unset", default=None)
    base_urls: tuple[str, ...] = _doc("servers that `heron fix --batch` spreads its tasks over (each task to the least busy); base_url when unset", default=())
    model: str | None = _doc("served model name; the server's first model when unset", default=None)
    probe_addresses: tuple[str, ...] = _doc(
        "host:port pairs tried in order when base_url is unset (vLLM, llama-server, Ollama, LM Studio, SGLang)",
        default=("127.0.0.1:8000", "127.0.0.1:8080", "127.0.0.1:11434", "127.0.0.1:1234", "127.0.0.1:30000"),
    )
    api_key: str = _doc("API key for the server (local servers accept any)", default="sk-local")
    max_steps: int = _doc("model turns before the run gives up", default=50)
    max_retries: int = _doc("retries on connection errors, 429 and 5xx, with backoff", default=3)
    request_timeout: float = _doc("seconds to wait for the server before a request fails", default=600.0)
    temperature: float | None = _doc("sampling temperature; the server's default when unset", default=None)
    max_output_tokens: int = _doc("tokens reserved for each model answer", default=16384)
    context_window: int | None = _doc("window in tokens; read from the server when unset", default=None)
    compact_at: float = _doc("share of the window a request may fill before older turns are summarized", default=0.85)
    map_tokens: int | None = _doc("tokens for the repo map in the first user turn; a quarter of the window when unset, 0 for none", default=None)
    enable_thinking: bool = _doc("let reasoning models think before answering", default=True)
    stream: bool = _doc("stream answers as they are written; false asks for whole answers", default=True)
    approval: str | None = _doc("approval mode: read-only, ask, auto-edit or full-auto; unset: ask in the TUI, auto-edit in `heron fix`", default=None)
    sandbox: str = _doc("shell sandbox: auto (bubblewrap, else Landlock), require, landlock, or off", default="auto")
    network: bool = _doc("allow network access from the sandboxed shell", default=False)
    shell_timeout: float = _doc("default seconds a shell command may run", default=SHELL_TIMEOUT)
    shell_idle_timeout: float = _doc("seconds a shell command may print nothing before it is interrupted", default=SHELL_IDLE_TIMEOUT)
    disk_budget_mb: int | None = _doc("MiB of disk the sandboxed shell may add to the workspace in a session; half the free space when unset", default=None)
    test_cmd: str | None = _doc("command that decides whether `heron fix` succeeded", default=None)
    retries: int = _doc("extra rounds the model gets after --test-cmd fails", default=2)
    auto_commit: bool = _doc("commit the agent's changes when `heron fix` succeeds, as --commit does", default=False)
    allow: tuple[str, ...] = _doc("command or path patterns always allowed", default=())
    ask: tuple[str, ...] = _doc("command or path patterns that always ask", default=())
    deny: tuple[str, ...] = _doc("command or path patterns always refused", default=())
    mcp_servers: tuple[McpServer, ...] = _doc(
        "MCP servers whose tools the model may call: `[mcp.servers.NAME]` tables (command/args/env, or "
        "url/headers) in the config files, and the repository's .mcp.json", default=())
    secret_files: tuple[str, ...] = _doc(
        "file-name patterns of secret files: named in the repo map and search results, their text never shown there",
        default=DEFAULT_SECRET_FILES,
    )

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)


FIELDS = {f.name: f for f in fields(Config)}
ENV_VARS = {
    "HERON_BASE_URL": "base_url",
    "HERON_MODEL": "model",
    "HERON_API_KEY": "api_key",
    "HERON_APPROVAL": "approval",
    "HERON_SANDBOX": "sandbox",
    "HERON_MAX_RETRIES": "max_retries",
    "HERON_PROBE_ADDRESSES": "probe_addresses",  # comma-separated
}
# Honoured after heron's own names, so HERON_* wins when both are set.
FALLBACK_ENV_VARS = {"OPENAI_BASE_URL": "base_url", "OPENAI_API_KEY": "api_key"}


def user_config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "heron" / "config.toml"


def load_config(
    repo: Path,
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Merge every layer into one Config; a bad file or value raises UsageError naming it."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    user, project = _file_layer(user_config_path(env)), _repo_layer(repo)
    values.update(user)
    values.update(project)
    values.update(_env_layer(env))
    values.update(_checked({k: v for k, v in (flags or {}).items() if v is not None}, "command-line flags"))
    # MCP servers merge by name rather than replace: user's < the repository's .mcp.json < heron.toml.
    values["mcp_servers"] = merge_servers(user.get("mcp_servers", ()), read_mcp_json(repo),
                                          project.get("mcp_servers", ()))
    return Config(**values)


def _file_layer(path: Path, table: str | None = None) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid TOML: {e}") from None
    if table is not None:
        data = data.get("tool", {}).get(table, None)
        if data is None:
            return {}
        where = f"{path} [tool.{table}]"
    else:
        where = str(path)
    return _checked(data, where)


def _repo_layer(repo: Path) -> dict[str, Any]:
    heron_toml = repo / "heron.toml"
    if heron_toml.is_file():
        return _file_layer(heron_toml)
    return _file_layer(repo / "pyproject.toml", table="heron")


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for names in (FALLBACK_ENV_VARS, ENV_VARS):
        for var, key in names.items():
            if env.get(var):
                raw[key] = env[var]
    return _checked(raw, "environment", from_text=True)


def _checked(data: Mapping[str, Any], where: str, from_text: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "mcp":
            out["mcp_servers"] = _mcp_table(value, where)
            continue
        name = key.replace("-", "_")
        if name not in FIELDS:
            known = ", ".join(sorted(FIELDS))
            raise UsageError(f"{where}: unknown key '{key}' (known keys: {known})")
        out[name] = _coerce(name, value, where, from_text)
    return out


def _mcp_table(value: Any, where: str) -> tuple[McpServer, ...]:
    if not isinstance(value, Mapping) or set(value) - {"servers"}:
        raise UsageError(f"{where}: [mcp] holds only [mcp.servers.NAME] tables")
    return parse_servers(value.get("servers", {}), f"{where} [mcp.servers]")


def _coerce(name: str, value: Any, where: str, from_text: bool) -> Any:
    kind = FIELDS[name].type
    problem = None
    try:
        if "tuple" in kind:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()] if from_text else [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problem = "expected a list of strings"
            else:
                value = tuple(value)
        elif kind.startswith("bool"):
            if from_text and isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    problem = "expected true or false"
                value = value.lower() in ("1", "true", "yes")
            elif not isinstance(value, bool):
                problem = "expected true or false"
        elif kind.startswith("int"):
            if isinstance(value, bool):
                problem = "expected a whole number"
            else:
                value = int(value)
                if value < 0:
                    problem = "expected a number of zero or more"
        elif kind.startswith("float"):
            if isinstance(value, bool):
                problem = "expected a number"
            else:
                value = float(value)
        elif not isinstance(value, str):
            problem = "expected a string"
    except (TypeError, ValueError):
        problem = "expected a number"
    if problem is None and name == "approval" and value not in APPROVAL_MODES:
        problem = f"expected one of {', '.join(APPROVAL_MODES)}"
    if problem is None and name == "sandbox" and value not in SANDBOX_MODES:
        problem = f"expected one of {', '.join(SANDBOX_MODES)}"
    if problem is None and name == "compact_at" and not 0 < value <= 1:
        problem = "expected a share of the window above 0 and at most 1, e.g. 0.85"
    if problem is None and name == "max_steps" and value < 1:
        problem = "expected at least 1"
    if problem:
        raise UsageError(f"{where}: '{name}' = {value!r}: {problem}")
    return value
