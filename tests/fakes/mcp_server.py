"""A real MCP server written with the official SDK, for tests: `python tests/fakes/mcp_server.py`.

    --http PORT      serve streamable HTTP on 127.0.0.1:PORT instead of stdio
    --hang-at-start  never finish starting (tests the start timeout)
    --pid-file F     write the process id to F (tests that no server outlives heron)

Tools: add (numbers), echo (text), shout (an object argument), picture (an image), notes (an
embedded text resource), crash (the process dies mid-call) and hang (never answers).
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp_types import EmbeddedResource, ImageContent, TextResourceContents

# A 1x1 red PNG.
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8cfc000"
    "00030101008dbd6b1c0000000049454e44ae426082")).decode()

server = MCPServer("demo")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two whole numbers."""
    return str(a + b)


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@server.tool()
def shout(message: dict[str, str]) -> str:
    """Upper-case every value of the message object."""
    return " ".join(v.upper() for _, v in sorted(message.items()))


@server.tool()
def picture() -> ImageContent:
    """A tiny picture."""
    return ImageContent(type="image", data=PIXEL, mime_type="image/png")


@server.tool()
def notes() -> EmbeddedResource:
    """The project's notes, as an embedded resource."""
    return EmbeddedResource(type="resource", resource=TextResourceContents(uri="file:///notes.txt", text="buy milk"))


@server.tool()
def crash() -> str:
    """Die in the middle of the call."""
    os._exit(3)


@server.tool()
def hang() -> str:
    """Never answer."""
    while True:
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int)
    parser.add_argument("--hang-at-start", action="store_true")
    parser.add_argument("--pid-file")
    options = parser.parse_args()
    if options.pid_file:
        Path(options.pid_file).write_text(str(os.getpid()))
    if options.hang_at_start:
        while True:
            time.sleep(1)
    if options.http:
        server.run("streamable-http", host="127.0.0.1", port=options.http)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
