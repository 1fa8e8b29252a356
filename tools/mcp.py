"""The tools of MCP servers, offered to the model as `SERVER__tool` through heron's one tool door.

Each becomes a Tool whose schema is the server's own input schema (arguments are checked against
it before the call), whose kind is `mcp` (the policy asks unless a rule says otherwise), and
whose result — text, images, embedded resources — becomes a ToolResult. A server that fails
mid-call is a tool error the model reads; the hub takes the server's tools out for later turns.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from agent.images import ImageError, Picture, picture
from agent.mcp.hub import McpCallError, McpHub, RemoteTool
from tools.base import Tool, ToolContext, ToolError, ToolResult

# OpenAI tool names: letters, digits, '_' and '-', at most 64.
UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
MAX_NAME = 64


def mcp_tools(hub: McpHub) -> list[Tool]:
    """The ready servers' tools, in a stable order (server, then tool)."""
    return [_tool(hub, remote) for remote in hub.tools()]


def tool_name(remote: RemoteTool) -> str:
    return f"{remote.server}__{UNSAFE.sub('_', remote.name)}"[:MAX_NAME]


def _tool(hub: McpHub, remote: RemoteTool) -> Tool:
    name = tool_name(remote)

    def run(arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            result = hub.call(remote.server, remote.name, arguments)
        except McpCallError as e:
            raise ToolError(str(e)) from None
        return to_result(result)

    description = remote.description or f"the {remote.name} tool of the MCP server {remote.server}"
    return Tool(name=name, description=f"[MCP server {remote.server}] {description}", args_model=None,
                kind="mcp", run_fn=run, subject_fn=lambda args: name, parameters=remote.input_schema)


def to_result(result: Any) -> ToolResult:
    """An MCP CallToolResult as heron's ToolResult: text for the model, images kept aside as data."""
    parts: list[str] = []
    pictures: list[Picture] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind == "image":
            try:
                pictures.append(picture(base64.b64decode(block.data), "the server's image"))
                parts.append(f"[image {len(pictures)}: {pictures[-1].width}x{pictures[-1].height}, shown below]")
            except (ImageError, ValueError) as e:
                parts.append(f"[an image that could not be read: {e}]")
        elif kind == "resource":
            parts.append(_resource(block.resource))
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}" + (f": {block.description}" if block.description else "") + "]")
        else:
            parts.append(f"[{kind or 'unknown'} content, not shown]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, sort_keys=True))
    text = "\n".join(parts) or "(no output)"
    return ToolResult(text, is_error=bool(result.is_error), pictures=pictures)


def _resource(resource: Any) -> str:
    text = getattr(resource, "text", None)
    if text is not None:
        return f"[resource {resource.uri}]\n{text}"
    size = len(base64.b64decode(getattr(resource, "blob", "") or ""))
    return f"[resource {resource.uri}: {resource.mime_type or 'binary'}, {size:,} bytes, not shown]"
