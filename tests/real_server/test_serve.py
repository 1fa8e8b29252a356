"""`heron serve` for real: the llama-server the setup script built, real small weights, then heron
against what it started."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_heron
from tests.fakes.hf_hub import FakeHub
from tests.real_server import setup
from tests.real_server.conftest import free_port
from tests.real_server.test_llama_server import ISSUE, configure, events_of, tiny  # noqa: F401 (fixture)

pytestmark = pytest.mark.real_server

SMOLLM2_WINDOW = 8192  # what SmolLM2-135M was trained for: its GGUF says so
REPO = "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def serve_env(home: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    """No llama-server on PATH: heron serve falls back to the one the setup script built."""
    return dict(HERON_TEST_CACHE=str(setup.cache_dir()), PATH=os.path.dirname(os.path.realpath("/bin/sh")),
                XDG_STATE_HOME=str(tmp_path / "state"), HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_XET="1", **extra)


@pytest.mark.timeout(300)
def test_serve_starts_the_built_llama_server_with_the_models_window(tmp_path, home):
    port = free_port()
    env = serve_env(home, tmp_path)
    result = run_heron(["serve", "--gguf", str(setup.weights_path(setup.SMOLLM2)), "--port", str(port), "--yes"],
                       home, timeout=280, **env)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        # The plan gives the model the window its GGUF says it was trained for, not 262,144.
        assert f"window    {SMOLLM2_WINDOW:,} tokens" in result.stdout
        props = get(f"http://127.0.0.1:{port}/props")
        assert props["default_generation_settings"]["n_ctx"] == SMOLLM2_WINDOW
        base_url = f"http://127.0.0.1:{port}/v1"
        assert result.stdout.strip().endswith(f"heron --base-url {base_url}")
        doctor = run_heron(["doctor", "--base-url", base_url], home, timeout=200)
        assert f"llama-server at {base_url}" in doctor.stdout, doctor.stdout + doctor.stderr
    finally:
        stopped = run_heron(["serve", "--stop"], home, **env)
    assert stopped.returncode == 0 and "stopped llama-server" in stopped.stdout


@pytest.mark.timeout(600)
def test_serve_fetches_the_model_then_heron_fix_runs_against_it(tmp_path, home, tiny):  # noqa: F811
    """From the hub (a local stand-in with the real file and its real sha256) to a started server
    to a `heron fix` run against it."""
    weights = setup.weights_path(setup.QWEN_CODER)
    hub = FakeHub({f"{REPO}/{weights.name}": weights.read_bytes()}).start()
    env = serve_env(home, tmp_path, HF_ENDPOINT=hub.endpoint)
    try:
        result = run_heron(["serve", "--model", f"{REPO}:{weights.name}", "--port", str(free_port()), "--yes",
                            "--context", "4096"], home, timeout=500, **env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"sha256 {setup.QWEN_CODER.sha256} checked" in result.stdout
        command = result.stdout.strip().splitlines()[-1].split()
        assert command[:2] == ["heron", "--base-url"]
        configure(home)
        fixed = run_heron(["fix", ISSUE, "--repo", str(tiny), "--base-url", command[2], "--max-steps", "2",
                           "--json", "--yes"], home, timeout=280)
        assert fixed.returncode in (0, 1), fixed.stderr  # the small model need not solve it; heron must run
        assert events_of(fixed.stdout)[-1]["type"] == "done"
    finally:
        hub.stop()
        run_heron(["serve", "--stop"], home, **env)
