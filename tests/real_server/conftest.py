"""Fixtures that start a real llama-server on 127.0.0.1 with real small weights.

The tests here are marked `real_server`; they are skipped, saying why, until
`python -m tests.real_server.setup` has built the server and fetched the weights.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import urllib.error
import urllib.request

import pytest

from tests.real_server import setup

HERE = Path(__file__).parent
TOOL_TEMPLATE = HERE / "chatml-tools.jinja"
CONTEXT = 4096


@dataclass
class RealServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if setup.ready():
        return
    skip = pytest.mark.skip(reason="llama-server or weights not cached: run `python -m tests.real_server.setup`")
    for item in items:
        if "real_server" in item.keywords:
            item.add_marker(skip)


def start_server(weights: Path, log: Path, template: Path | None = None) -> RealServer:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [str(setup.server_binary()), "-m", str(weights), "--jinja", "-c", str(CONTEXT), "-t", "2",
            "--host", "127.0.0.1", "--port", str(port), "--no-webui"]
    if template:
        argv += ["--chat-template-file", str(template)]
    out = open(log, "wb")
    process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama-server exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                if answer.status == 200:
                    return RealServer(f"{base}/v1", process, log)
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("llama-server did not become healthy in 120 s")


def _serve(tmp_path_factory: pytest.TempPathFactory, template: Path | None) -> Iterator[RealServer]:
    log = tmp_path_factory.mktemp("llama") / "server.log"
    server = start_server(setup.weights_path(setup.QWEN_CODER), log, template)
    try:
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture(scope="session")
def qwen_tools_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """Qwen2.5-Coder-0.5B with a ChatML template whose calls llama.cpp parses into tool_calls."""
    yield from _serve(tmp_path_factory, TOOL_TEMPLATE)


@pytest.fixture(scope="session")
def qwen_own_template_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """Qwen2.5-Coder-0.5B with its own template: it writes calls as text, never as tool_calls."""
    yield from _serve(tmp_path_factory, None)
