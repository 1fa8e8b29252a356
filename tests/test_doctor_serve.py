"""`heron doctor` and `heron serve` through the real CLI."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from agent.serve import llama_server_argv
from tests.conftest import run_heron
from tests.fakes.openai_server import Reply, call, tool_reply


def address(server) -> str:
    return server.base_url.removeprefix("http://").removesuffix("/v1")


def closed_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def doctor_script(cached: int | None) -> list[Reply]:
    return [
        tool_reply(call("echo", text="ready")),
        Reply(reasoning="17 + 25 is 42.", text="42"),
        Reply(text="OK", prompt_tokens=2400, cached_tokens=0 if cached is not None else None),
        Reply(text="OK", prompt_tokens=2400, cached_tokens=cached),
    ]


def test_doctor_on_a_ready_vllm(tmp_path, home, fake_servers):
    server = fake_servers(kind="vllm")
    server.script(*doctor_script(cached=2112))
    result = run_heron(["doctor"], home, cwd=tmp_path, HERON_PROBE_ADDRESSES=f"{closed_address()},{address(server)}")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"vLLM at {server.base_url}" in out and "Qwen/Qwen3.6-27B" in out
    assert "262,144 tokens" in out and "tool calls    native" in out
    assert "reasoning     yes" in out and "reused 2,112 of 2,400 prompt tokens" in out
    assert "change:" not in out and out.rstrip().endswith("ready")
    tool_request, reasoning_request, *cache_requests = server.chat_requests
    assert tool_request["chat_template_kwargs"] == {"enable_thinking": False, "preserve_thinking": True}
    assert reasoning_request["chat_template_kwargs"]["enable_thinking"] is True
    assert cache_requests[0]["messages"] == cache_requests[1]["messages"]


@pytest.mark.parametrize("kind, shown, window", [("sglang", "SGLang", "131,072 tokens"),
                                                 ("lmstudio", "LM Studio", "131,072 tokens"),
                                                 ("openai", "an OpenAI-compatible server", "not reported")])
def test_doctor_on_other_kinds(tmp_path, home, fake_servers, kind, shown, window):
    server = fake_servers(kind=kind, context_window=131072)
    server.script(*doctor_script(cached=1000))
    result = run_heron(["doctor", "--base-url", server.base_url], home, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{shown} at {server.base_url}" in result.stdout and window in result.stdout
    assert ("change:" in result.stdout) == (kind != "openai")  # a short window, when it is known


def test_doctor_on_llama_server_without_jinja_and_a_short_window(tmp_path, home, fake_servers):
    server = fake_servers(kind="llama-server", context_window=32768, rejects_tools=True)
    server.script(
        Reply(text='<tool_call>\n{"name": "echo", "arguments": {"text": "ready"}}\n</tool_call>'),
        Reply(text="42"),
        Reply(text="OK", extra={"timings": {"cache_n": 0}}),
        Reply(text="OK", extra={"timings": {"cache_n": 0}}),
    )
    result = run_heron(["doctor", "--base-url", server.base_url], home, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "llama-server" in out and "32,768 tokens" in out and "tool calls    text protocol" in out
    assert "change: restart llama-server with -c 262144" in out
    assert "change: restart llama-server with --jinja" in out
    assert "reasoning     none seen" in out and "prefix cache  no reuse" in out


def test_doctor_not_ready_when_the_model_calls_no_tool(tmp_path, home, fake_servers):
    server = fake_servers(kind="ollama")
    server.script(Reply(text="I cannot call tools."), *doctor_script(cached=None)[1:])
    result = run_heron(["doctor", "--base-url", server.base_url], home, cwd=tmp_path)
    assert result.returncode == 3
    assert "tool calls    none: the model answered 'I cannot call tools.'" in result.stdout
    assert "prefix cache  not reported by the server" in result.stdout
    assert result.stdout.rstrip().endswith("not ready")
    assert server.chat_requests[0]["options"] == {"num_ctx": 262144}


def test_doctor_with_no_server(tmp_path, home):
    nowhere = closed_address()
    result = run_heron(["doctor"], home, cwd=tmp_path, HERON_PROBE_ADDRESSES=nowhere)
    assert result.returncode == 3
    assert f"no model server answers on {nowhere}" in result.stdout and "Traceback" not in result.stderr
    assert result.stdout.rstrip().endswith("not ready")


def fake_runtime(bin_dir: Path, name: str) -> Path:
    """An executable standing in for a server runtime: it records its arguments and environment."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "$@" > "{bin_dir}/{name}.args"\necho "$OLLAMA_CONTEXT_LENGTH" > "{bin_dir}/{name}.env"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def path_with(bin_dir: Path) -> str:
    return f"{bin_dir}:{os.path.dirname(os.path.realpath('/bin/sh'))}"


def test_serve_print_shows_vllm_with_the_full_window(tmp_path, home):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "vllm")
    result = run_heron(["serve", "--print"], home, PATH=path_with(bin_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "vllm serve Qwen/Qwen3.6-27B --host 127.0.0.1 --port 8000 --max-model-len 262144 "
        "--enable-auto-tool-choice --tool-call-parser qwen3_coder --reasoning-parser qwen3 "
        "--enable-prefix-caching --mamba-cache-mode align")
    assert not (bin_dir / "vllm.args").exists()


def test_serve_starts_llama_server_with_a_gguf(tmp_path, home):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "llama-server")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    result = run_heron(["serve", "--gguf", str(gguf), "--port", "9123"], home, PATH=path_with(bin_dir))
    assert result.returncode == 0, result.stderr
    args = (bin_dir / "llama-server.args").read_text().split()
    assert args == llama_server_argv(gguf, 9123, 262144)[1:]
    assert ["--jinja", "-c", "262144"] == args[2:5] and "--ctx-checkpoints" in args


def test_serve_ollama_sets_the_context_length(tmp_path, home):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "ollama")
    result = run_heron(["serve"], home, PATH=path_with(bin_dir))
    assert result.returncode == 0, result.stderr
    assert (bin_dir / "ollama.args").read_text().split() == ["serve"]
    assert (bin_dir / "ollama.env").read_text().strip() == "262144"
    assert "ollama pull qwen3.6:27b" in result.stdout


def test_serve_without_a_runtime_gives_the_install_line(tmp_path, home):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_heron(["serve", "--runtime", "vllm"], home, PATH=path_with(empty))
    assert result.returncode == 2
    assert result.stderr.strip() == "heron: vllm is not installed; install it with: pip install -U vllm"
    printed = run_heron(["serve", "--print", "--runtime", "vllm"], home, PATH=path_with(empty))
    assert printed.returncode == 0
    assert printed.stdout.startswith("# vllm is not installed; install it with: pip install -U vllm\nvllm serve")


def test_serve_llama_server_needs_a_gguf(tmp_path, home):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "llama-server")
    result = run_heron(["serve", "--runtime", "llama-server"], home, PATH=path_with(bin_dir))
    assert result.returncode == 2 and "heron serve --gguf PATH" in result.stderr
