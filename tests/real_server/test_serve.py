"""`heron serve` for real: it finds the llama-server the setup script built and starts it for a GGUF."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from tests.conftest import HERON, heron_env, run_heron
from tests.real_server import setup
from tests.real_server.conftest import free_port, started, stop

pytestmark = pytest.mark.real_server

SMOLLM2_WINDOW = 8192  # what SmolLM2-135M was trained for: its GGUF says so


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


@pytest.mark.timeout(200)
def test_serve_starts_the_built_llama_server_with_the_models_window(tmp_path, home):
    weights = setup.weights_path(setup.SMOLLM2)
    port = free_port()
    # No llama-server on PATH: heron serve falls back to the one the setup script built.
    env = heron_env(home, HERON_TEST_CACHE=str(setup.cache_dir()), PATH=os.path.dirname(os.path.realpath("/bin/sh")))
    server = started([str(HERON), "serve", "--gguf", str(weights), "--port", str(port)], port,
                     tmp_path / "serve.log", env)
    try:
        props = get(f"http://127.0.0.1:{port}/props")
        # The default asks for 262,144 tokens; the model was trained for 8,192, and gets that.
        assert props["default_generation_settings"]["n_ctx"] == SMOLLM2_WINDOW
        assert "the model was trained for 8,192 tokens" in server.log.read_text()
        # --jinja: the server takes `tools` (without it, llama-server refuses them with HTTP 500).
        answer = post(f"{server.base_url}/chat/completions", {
            "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8,
            "tools": [{"type": "function", "function": {"name": "echo", "parameters": {"type": "object"}}}]})
        assert answer["choices"][0]["message"]["role"] == "assistant"
        # heron finds it on the port and reads the window it serves.
        doctor = run_heron(["doctor", "--base-url", server.base_url], home, timeout=150)
        assert f"llama-server at {server.base_url}" in doctor.stdout
        assert f"window        {SMOLLM2_WINDOW:,} tokens" in doctor.stdout, doctor.stdout + doctor.stderr
    finally:
        stop(server.process)
