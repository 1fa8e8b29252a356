"""The MCP servers a user declared: `[mcp.servers.NAME]` in heron's config, and `.mcp.json`.

A server is either a command heron starts and talks to over stdio (`command`, `args`, `env`) or
a streamable-HTTP endpoint (`url`, `headers`). `.mcp.json` at the repository root is the file
Claude Code, Cursor and others read (`{"mcpServers": {NAME: {...}}}`); heron reads it unchanged,
and a server of the same name in heron's own config wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from agent.errors import UsageError

MCP_JSON = ".mcp.json"
# What an OpenAI tool name may hold; server names become part of tool names (`NAME__tool`).
NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
STDIO_KEYS = {"command", "args", "env", "cwd"}
HTTP_KEYS = {"url", "headers"}
COMMON_KEYS = {"type", "timeout", "startup_timeout", "enabled"}


@dataclass(frozen=True)
class McpServer:
    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds one tool call may take, and the server's start (spawn, handshake, tool list).
    timeout: float = 120.0
    startup_timeout: float = 30.0
    source: str = field(default="", compare=False)

    @property
    def transport(self) -> str:
        return "http" if self.url else "stdio"


def parse_servers(table: Any, where: str) -> tuple[McpServer, ...]:
    """Servers from a `{NAME: {...}}` table; a bad entry raises UsageError naming it."""
    if not isinstance(table, Mapping):
        raise UsageError(f"{where}: expected a table of MCP servers, one per name")
    servers = []
    for name in sorted(table):
        entry = table[name]
        spot = f"{where}: MCP server '{name}'"
        if not NAME.match(str(name)):
            raise UsageError(f"{spot}: a name is 1-32 letters, digits, '_' or '-'")
        if not isinstance(entry, Mapping):
            raise UsageError(f"{spot}: expected a table with `command` (stdio) or `url` (HTTP)")
        if entry.get("enabled", True) is False or entry.get("disabled") is True:
            continue
        servers.append(_server(str(name), dict(entry), spot))
    return tuple(servers)


def read_mcp_json(repo: Path) -> tuple[McpServer, ...]:
    path = repo / MCP_JSON
    if not path.is_file():
        return ()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("mcpServers", {}), Mapping):
        raise UsageError(f"{path}: expected {{\"mcpServers\": {{NAME: {{...}}}}}}")
    return parse_servers(data.get("mcpServers", {}), str(path))


def merge_servers(*layers: tuple[McpServer, ...]) -> tuple[McpServer, ...]:
    """Later layers win by name; the result is ordered by name, so tool lists are stable."""
    merged: dict[str, McpServer] = {}
    for layer in layers:
        merged.update({server.name: server for server in layer})
    return tuple(merged[name] for name in sorted(merged))


def _server(name: str, entry: dict[str, Any], spot: str) -> McpServer:
    entry.pop("disabled", None)
    unknown = set(entry) - STDIO_KEYS - HTTP_KEYS - COMMON_KEYS
    if unknown:
        raise UsageError(f"{spot}: unknown key '{sorted(unknown)[0]}' (known: "
                         f"{', '.join(sorted(STDIO_KEYS | HTTP_KEYS | COMMON_KEYS))})")
    kind = entry.get("type")
    if ("command" in entry) == ("url" in entry):
        raise UsageError(f"{spot}: give either `command` (a program run over stdio) or `url` (streamable HTTP)")
    if kind not in (None, "stdio", "http", "streamable-http", "streamable_http"):
        raise UsageError(f"{spot}: type '{kind}' is not supported (stdio or http)")
    timeouts = {key: _seconds(entry[key], f"{spot}: `{key}`") for key in ("timeout", "startup_timeout") if key in entry}
    if "url" in entry:
        url = _text(entry["url"], f"{spot}: `url`")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"{spot}: `url` must start with http:// or https://")
        return McpServer(name, url=url, headers=_pairs(entry.get("headers", {}), f"{spot}: `headers`"),
                         source=spot, **timeouts)
    args = entry.get("args", [])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise UsageError(f"{spot}: `args` must be a list of strings")
    return McpServer(name, command=_text(entry["command"], f"{spot}: `command`"), args=tuple(args),
                     env=_pairs(entry.get("env", {}), f"{spot}: `env`"),
                     cwd=_text(entry["cwd"], f"{spot}: `cwd`") if "cwd" in entry else None,
                     source=spot, **timeouts)


def _text(value: Any, spot: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{spot} must be a non-empty string")
    return value


def _pairs(value: Any, spot: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"{spot} must be a table of strings")
    return tuple(sorted((str(k), v) for k, v in value.items()))


def _seconds(value: Any, spot: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise UsageError(f"{spot} must be a number of seconds above 0")
    return float(value)
