"""The running MCP servers: started when first needed, called from any thread, stopped with heron.

The official SDK is async; heron's loop is not. The hub owns one event loop on a daemon thread,
and each server lives in one task there that enters the SDK's `Client` and holds it until asked to
stop (the SDK's transports must be entered and left in the same task). Everything else reaches in
with `run_coroutine_threadsafe` and a timeout, so a server that hangs costs a timeout, never a
stuck agent. A server that fails to start, hangs or dies is marked failed, stopped, and reported
once; its tools leave the list the next time the session asks for it (at a turn boundary).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

import platformdirs

from agent.mcp.servers import McpServer

# Seconds given to all servers together to shut down (the SDK closes stdin, then kills the tree).
STOP_TIMEOUT = 8.0


class ServerState(str, Enum):
    IDLE = "not started"
    READY = "ready"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RemoteTool:
    server: str
    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool = False


@dataclass
class ServerStatus:
    server: McpServer
    state: ServerState = ServerState.IDLE
    message: str = ""
    tools: list[RemoteTool] = field(default_factory=list)


class McpCallError(Exception):
    """A call that did not get an answer: the server hung, died or refused the request."""


class McpHub:
    def __init__(self, servers: tuple[McpServer, ...], notice: Callable[[str], None] = lambda text: None,
                 log_dir: Path | None = None) -> None:
        self.status = {s.name: ServerStatus(s) for s in servers}
        self._notice = notice
        self._log_dir = log_dir or platformdirs.user_log_path("heron") / "mcp"
        self._clients: dict[str, Any] = {}
        self._stops: dict[str, asyncio.Event] = {}
        self._holders: dict[str, asyncio.Task[None]] = {}
        self._lock = threading.Lock()
        # Failures found on the hub's thread are told on the caller's, from tools() and call().
        self._notices: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def tools(self) -> list[RemoteTool]:
        """Every ready server's tools, ordered by server then tool; starts servers not yet tried."""
        self.start()
        self._tell()
        return [tool for name in sorted(self.status) for tool in self.status[name].tools
                if self.status[name].state is ServerState.READY]

    def start(self) -> None:
        """Start every server not yet tried, all at once; failures are reported, not raised."""
        with self._lock:
            waiting = [s for s in self.status.values() if s.state is ServerState.IDLE]
            if not waiting:
                return
            loop = self._ensure_loop()
            futures = {s.server.name: asyncio.run_coroutine_threadsafe(self._start(s.server), loop) for s in waiting}
        for name, future in futures.items():
            server = self.status[name].server
            try:
                future.result(server.startup_timeout + 1)
            except concurrent.futures.TimeoutError:
                self._fail(name, f"did not start within {server.startup_timeout:g} s")

    def call(self, server: str, tool: str, arguments: dict[str, Any]) -> Any:
        """The server's CallToolResult; McpCallError when it hangs past its timeout or fails."""
        status = self.status[server]
        client = self._clients.get(server)
        if status.state is not ServerState.READY or client is None or self._loop is None:
            raise McpCallError(f"MCP server '{server}' is not running ({status.message or status.state.value})")
        future = asyncio.run_coroutine_threadsafe(client.call_tool(tool, arguments), self._loop)
        try:
            return future.result(status.server.timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            self._fail(server, f"a call to {tool} took longer than {status.server.timeout:g} s")
        except Exception as e:  # the SDK raises its own, anyio's and OS errors when a server dies
            if self._clients.get(server) is client and status.state is ServerState.READY:
                self._fail(server, f"a call to {tool} failed: {_reason(e)}")
        self._tell()
        raise McpCallError(f"MCP server '{server}' failed: {self.status[server].message}")

    def close(self) -> None:
        """Stop every server and the hub's thread; safe to call more than once."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._stop_all(), loop)
        with suppress(Exception):
            future.result(STOP_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(2)
        self._loop = self._thread = None
        for status in self.status.values():
            if status.state is ServerState.READY:
                status.state = ServerState.STOPPED

    # --- on the hub's thread ---------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name="heron-mcp", daemon=True)
            self._thread.start()
            self._loop = loop
        return self._loop

    async def _start(self, server: McpServer) -> None:
        ready = asyncio.Event()
        self._stops[server.name] = asyncio.Event()
        self._holders[server.name] = asyncio.create_task(self._hold(server, ready))
        try:
            await asyncio.wait_for(ready.wait(), server.startup_timeout)
        except asyncio.TimeoutError:
            self._holders[server.name].cancel()
            self._fail(server.name, f"did not start within {server.startup_timeout:g} s")

    async def _hold(self, server: McpServer, ready: asyncio.Event) -> None:
        """Enter the client, list its tools, and hold it open until told to stop."""
        from mcp import Client  # the SDK loads only when a server is configured

        try:
            self._log_dir.mkdir(parents=True, exist_ok=True)
            with open(self._log_dir / f"{server.name}.log", "a", encoding="utf-8") as errlog:
                async with Client(_transport(server, errlog), client_info=_client_info()) as client:
                    listed = await client.list_tools()
                    self._ready(server, client, listed.tools)
                    ready.set()
                    await self._stops[server.name].wait()
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # a server that cannot start, or dies, must not take heron with it
            if self.status[server.name].state is not ServerState.FAILED:
                self._fail(server.name, _reason(e))
        finally:
            self._clients.pop(server.name, None)
            ready.set()

    def _ready(self, server: McpServer, client: Any, tools: list[Any]) -> None:
        status = self.status[server.name]
        status.tools = sorted((RemoteTool(server.name, t.name, t.description or t.title or "",
                                          dict(t.input_schema or {"type": "object"}),
                                          bool(t.annotations and t.annotations.read_only_hint))
                               for t in tools), key=lambda t: t.name)
        self._clients[server.name] = client
        status.state, status.message = ServerState.READY, f"{len(status.tools)} tools"

    async def _stop_all(self) -> None:
        for stop in self._stops.values():
            stop.set()
        holders = [task for task in self._holders.values() if not task.done()]
        if holders:
            _, pending = await asyncio.wait(holders, timeout=STOP_TIMEOUT - 1)
            for task in pending:
                task.cancel()

    def _fail(self, name: str, reason: str) -> None:
        status = self.status[name]
        if status.state is ServerState.FAILED:
            return
        status.state, status.message = ServerState.FAILED, reason
        self._clients.pop(name, None)
        if name in self._stops and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stops[name].set)
        self._notices.append(f"MCP server '{name}' failed: {reason}; its tools are left out from the next turn on "
                             f"(its log: {self._log_dir / (name + '.log')})")

    def _tell(self) -> None:
        while self._notices:
            self._notice(self._notices.pop(0))


def _transport(server: McpServer, errlog: Any) -> Any:
    if server.url:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        client = httpx2.AsyncClient(headers=dict(server.headers), timeout=server.timeout)
        return streamable_http_client(server.url, http_client=client)
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=server.command or "", args=list(server.args),
                                   env=dict(server.env) or None, cwd=server.cwd)
    return stdio_client(params, errlog=errlog)


def _client_info() -> Any:
    from mcp import Implementation

    return Implementation(name="heron", version="0.1.0")


def _reason(error: BaseException) -> str:
    """One line for the user; exception groups from the SDK's task groups are unwrapped."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
