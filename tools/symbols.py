"""symbols: where a name is defined and used, from the repo map's tag index."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.repomap import session_map
from tools.base import ToolContext, ToolError, tool

MAX_DEFINITIONS = 20
MAX_REFERENCES = 50


class SymbolsArgs(BaseModel):
    name: str = Field(description="an identifier: a class, function, method, type or constant name")


@tool(kind="read", subject=lambda a: a.name)
def symbols(args: SymbolsArgs, ctx: ToolContext) -> str:
    """Find where a name is defined (with its signature) and where it is referenced, as path:line."""
    name = args.name.strip()
    if not name.isidentifier() and not name.replace("$", "").isidentifier():
        raise ToolError(f"{args.name!r} is not an identifier; give one name such as parse_config or Parser")
    repo_map = session_map(ctx)
    repo_map.refresh()
    found = repo_map.symbol(name, lines=MAX_REFERENCES)
    if not found.definitions and not found.reference_count:
        raise ToolError(f"no definition or reference of {name} in the repository's source files")
    lines = [f"Definitions of {name} ({len(found.definitions)}):"]
    lines += [f"{path}:{line}: {header}" for path, line, header in found.definitions[:MAX_DEFINITIONS]]
    if len(found.definitions) > MAX_DEFINITIONS:
        lines.append(f"... {len(found.definitions) - MAX_DEFINITIONS} more definitions left out")
    lines.append(f"References to {name} ({found.reference_count}):")
    shown = found.references[:MAX_REFERENCES]
    lines += [f"{path}:{line}" for path, line in shown]
    if found.reference_count > len(shown):
        lines.append(f"... {found.reference_count - len(shown)} more references left out")
    return "\n".join(lines)
