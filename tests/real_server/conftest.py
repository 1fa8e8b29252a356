"""Fixtures that start a real llama-server on 127.0.0.1 with real small weights.

The tests here are marked `real_server`; they are skipped, saying why, until
`python -m tests.real_server.setup` has built the server and fetched the weights.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(weights: Path, log: Path, template: Path | None = None, context: int = CONTEXT) -> RealServer:
    port = free_port()
    argv = [str(setup.server_binary()), "-m", str(weights), "--jinja", "-c", str(context), "-t", "2",
            "--host", "127.0.0.1", "--port", str(port), "--no-webui"]
    if template:
        argv += ["--chat-template-file", str(template)]
    return started(argv, port, log)


def started(argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> RealServer:
    """Runs argv, which serves on 127.0.0.1:port, until it answers /health (or fails, with its log)."""
    process = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, env=env)
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
    stop(process)
    raise RuntimeError("llama-server did not become healthy in 120 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _serve(tmp_path_factory: pytest.TempPathFactory, template: Path | None) -> Iterator[RealServer]:
    log = tmp_path_factory.mktemp("llama") / "server.log"
    server = start_server(setup.weights_path(setup.QWEN_CODER), log, template)
    try:
        yield server
    finally:
        stop(server.process)


@pytest.fixture(scope="session")
def qwen_tools_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """Qwen2.5-Coder-0.5B with a ChatML template whose calls llama.cpp parses into tool_calls."""
    yield from _serve(tmp_path_factory, TOOL_TEMPLATE)


@pytest.fixture(scope="session")
def qwen_own_template_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """Qwen2.5-Coder-0.5B with its own template: it writes calls as text, never as tool_calls."""
    yield from _serve(tmp_path_factory, None)
