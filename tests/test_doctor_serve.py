"""`heron doctor` and `heron serve` through the real CLI."""

from __future__ import annotations

import os
import socket
import stat
import struct
from pathlib import Path

import pytest

from agent.serve.launch import llama_server_argv
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


def test_doctor_on_llama_server_whose_template_it_cannot_parse(tmp_path, home, fake_servers):
    server = fake_servers(kind="llama-server", context_window=262144)
    server.script(Reply(text='```json\n{"name": "echo", "arguments": {"text": "ready"}}\n```'),
                  *doctor_script(cached=2000)[1:])
    result = run_heron(["doctor", "--base-url", server.base_url], home, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tool calls    recovered from text" in result.stdout
    assert "--chat-template-file" in result.stdout and "--jinja" not in result.stdout


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


def write_gguf(path: Path, context_length: int | None, architecture: str = "qwen35") -> Path:
    """A GGUF header as llama.cpp writes one (no tensors): an array first, as the tokenizer's are."""
    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text.encode())) + text.encode()

    entries = [string("general.architecture") + struct.pack("<I", 8) + string(architecture),
               string("general.tags") + struct.pack("<IIQ", 9, 8, 2) + string("a") + string("b"),
               string(f"{architecture}.block_count") + struct.pack("<II", 4, 64)]
    if context_length is not None:
        entries.append(string(f"{architecture}.context_length") + struct.pack("<II", 4, context_length))
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + b"".join(entries))
    return path


def test_serve_starts_llama_server_with_a_gguf(tmp_path, home):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "llama-server")
    gguf = write_gguf(tmp_path / "model.gguf", 262144)
    result = run_heron(["serve", "--foreground", "--gguf", str(gguf), "--port", "9123"], home, PATH=path_with(bin_dir))
    assert result.returncode == 0, result.stderr
    args = (bin_dir / "llama-server.args").read_text().split()
    assert args == llama_server_argv(gguf, 9123, 262144)[1:]
    assert ["--jinja", "-c", "262144"] == args[2:5] and "--ctx-checkpoints" in args


def test_serve_ollama_sets_the_context_length(tmp_path, home):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "ollama")
    result = run_heron(["serve", "--foreground"], home, PATH=path_with(bin_dir))
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
    result = run_heron(["serve", "--foreground", "--runtime", "llama-server"], home, PATH=path_with(bin_dir))
    assert result.returncode == 2 and "heron serve --gguf PATH" in result.stderr


def test_serve_gives_llama_server_no_more_window_than_the_model_was_trained_for(tmp_path, home):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "llama-server")
    gguf = write_gguf(tmp_path / "small.gguf", 32768)
    result = run_heron(["serve", "--gguf", str(gguf), "--print"], home, PATH=path_with(bin_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"llama-server -m {gguf} --jinja -c 32768 --parallel 1 --ctx-checkpoints 32 -ngl 99 "
        "--host 127.0.0.1 --port 8080",
        "# the model was trained for 32,768 tokens: serving that window"]
    smaller = run_heron(["serve", "--gguf", str(gguf), "--print", "--context", "4096"], home, PATH=path_with(bin_dir))
    assert " -c 4096 " in smaller.stdout and "#" not in smaller.stdout
    unknown = write_gguf(tmp_path / "unknown.gguf", None)
    result = run_heron(["serve", "--gguf", str(unknown), "--print"], home, PATH=path_with(bin_dir))
    assert " -c 262144 " in result.stdout


def test_serve_uses_the_llama_server_the_setup_script_built(tmp_path, home):
    cache = tmp_path / "cache"
    (cache / "llama.cpp" / "build").mkdir(parents=True)
    built = fake_runtime(cache / "llama.cpp" / "build" / "bin", "llama-server")
    empty = tmp_path / "empty"
    empty.mkdir()
    gguf = write_gguf(tmp_path / "model.gguf", 8192)
    result = run_heron(["serve", "--foreground", "--gguf", str(gguf), "--port", "9124"], home,
                       PATH=path_with(empty), HERON_TEST_CACHE=str(cache))
    assert result.returncode == 0, result.stderr
    args = (built.parent / "llama-server.args").read_text().split()
    assert args == llama_server_argv(gguf, 9124, 8192)[1:]


@pytest.mark.parametrize("content", [b"PK\x03\x04 a zip", b"GGUF\x03\x00\x00\x00",
                                     b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + b"\x05"],
                         ids=["not-gguf", "no-header", "cut-short"])
def test_serve_refuses_a_file_that_is_not_a_whole_gguf(tmp_path, home, content):
    bin_dir = tmp_path / "bin"
    fake_runtime(bin_dir, "llama-server")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    result = run_heron(["serve", "--gguf", str(bad), "--yes"], home, PATH=path_with(bin_dir))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"heron: --gguf {bad}: ")
    assert not (bin_dir / "llama-server.args").exists()
