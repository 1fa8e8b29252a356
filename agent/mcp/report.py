"""What `heron mcp list` and the TUI's /mcp show: each server, its state, and its tools."""

from __future__ import annotations

from typing import Iterable

from agent.mcp.hub import ServerStatus


def describe(statuses: Iterable[ServerStatus]) -> str:
    lines = []
    for status in statuses:
        server = status.server
        where = server.url if server.url else " ".join([server.command or "", *server.args])
        lines.append(f"{server.name}  ({server.transport}: {where})  {status.state.value}"
                     + (f": {status.message}" if status.message else ""))
        lines += [f"  {server.name}__{tool.name}  {tool.description.strip().splitlines()[0][:80] if tool.description.strip() else ''}".rstrip()
                  for tool in status.tools]
    return "\n".join(lines) if lines else (
        "no MCP servers configured: add [mcp.servers.NAME] to heron.toml, or a .mcp.json to the repository")
