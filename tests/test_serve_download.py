"""`heron serve --model REPO:FILE` against a local stand-in for the hub (HF_ENDPOINT): real
huggingface_hub downloads, resumed after a cut, a corrupted file refused, the disk checked first,
offline refused; then a started, supervised server with --status and --stop."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import sys
from pathlib import Path

import pytest

from tests.conftest import run_heron
from tests.fakes.hf_hub import FakeHub

FAKES = Path(__file__).parent / "fakes"
REPO, FILE = "heron-tests/tiny-GGUF", "tiny-q8_0.gguf"
SMOLLM2 = Path(os.environ.get("HERON_TEST_CACHE") or Path.home() / ".cache" / "heron-tests") / "weights" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_bytes() -> bytes:
    """The real-server tier's small real GGUF when it is cached, else a valid GGUF header written
    here (the keys llama.cpp writes for a Qwen2 model) padded to 16 MB: past one of
    huggingface_hub's 10 MB download chunks, so a cut after a chunk leaves something to resume from."""
    if SMOLLM2.is_file():
        return SMOLLM2.read_bytes()

    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text.encode())) + text.encode()

    def u32(key: str, value: int) -> bytes:
        return string(key) + struct.pack("<II", 4, value)

    entries = [string("general.architecture") + struct.pack("<I", 8) + string("qwen2"),
               u32("qwen2.context_length", 32768), u32("qwen2.block_count", 24), u32("qwen2.embedding_length", 896),
               u32("qwen2.attention.head_count", 14), u32("qwen2.attention.head_count_kv", 2)]
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + b"".join(entries)
    return header + bytes(range(256)) * (1 << 16)


@pytest.fixture
def hub():
    server = FakeHub({f"{REPO}/{FILE}": gguf_bytes()}).start()
    yield server
    server.stop()


@pytest.fixture
def stub_bin(tmp_path: Path) -> Path:
    """A bin directory whose llama-server is the stub (answers /health, records its arguments)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "llama-server"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "llama_server_stub.py"}" "{bin_dir}/args" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: Path, tmp_path: Path, hub: FakeHub, bin_dir: Path, *extra: str, **env: str):
    path = f"{bin_dir}:{os.path.dirname(os.path.realpath('/bin/sh'))}"
    return run_heron(["serve", "--model", f"{REPO}:{FILE}", "--port", str(free_port()), *extra], home,
                     timeout=300, PATH=path, HF_ENDPOINT=hub.endpoint, HF_HOME=str(tmp_path / "hf"),
                     XDG_STATE_HOME=str(tmp_path / "state"), HF_HUB_DISABLE_XET="1", **env)


def cached_file(tmp_path: Path) -> Path:
    return next((tmp_path / "hf" / "hub").glob(f"models--heron-tests--tiny-GGUF/snapshots/*/{FILE}"))


def test_download_resumes_after_a_cut_checks_sha256_then_serves(tmp_path, home, hub, stub_bin):
    content = hub.files[f"{REPO}/{FILE}"]
    hub.cut_first_get_at = len(content) * 3 // 4
    result = serve(home, tmp_path, hub, stub_bin, "--yes")
    out = result.stdout
    try:
        assert result.returncode == 0, out + result.stderr
        # The first GET broke off after three quarters; huggingface_hub resumed with a Range from what it
        # had written (whole chunks of its download buffer), not from the start.
        first, resumed = hub.gets()
        offset = int(resumed.removeprefix("bytes=").removesuffix("-"))
        assert first is None and 0 < offset <= len(content) * 3 // 4
        assert cached_file(tmp_path).read_bytes() == content
        assert f"sha256 {hashlib.sha256(content).hexdigest()} checked" in out
        assert "yes (--yes)" in out and "kv cache" in out
        args = (stub_bin / "args").read_text().split()
        assert args[:2] == ["-m", str(cached_file(tmp_path))] and "--jinja" in args and "--cache-reuse" in args
        assert "ready: llama-server serves" in out
        command = out.strip().splitlines()[-1].strip()
        assert command.startswith("heron --base-url http://127.0.0.1:")
        status = serve(home, tmp_path, hub, stub_bin, "--status")
        assert status.returncode == 0 and "ready" in status.stdout and command in status.stdout
        again = serve(home, tmp_path, hub, stub_bin, "--yes")
        assert again.returncode == 0 and "already serves" in again.stdout
    finally:
        stopped = serve(home, tmp_path, hub, stub_bin, "--stop")
    assert stopped.returncode == 0 and "stopped llama-server" in stopped.stdout
    assert serve(home, tmp_path, hub, stub_bin, "--status").returncode == 1


def test_a_corrupted_download_is_refused_and_removed(tmp_path, home, hub, stub_bin):
    hub.corrupt = True
    result = serve(home, tmp_path, hub, stub_bin, "--yes")
    assert result.returncode == 2, result.stdout + result.stderr
    expected = hashlib.sha256(hub.files[f"{REPO}/{FILE}"]).hexdigest()
    assert f"is not the expected {expected}; the file was removed" in result.stderr
    assert not list((tmp_path / "hf" / "hub").glob(f"models--*/snapshots/*/{FILE}"))
    assert not (stub_bin / "args").exists() and "Traceback" not in result.stderr


def test_too_little_disk_is_refused_before_any_download(tmp_path, home, hub, stub_bin):
    hub.announced_size = 1 << 60
    result = serve(home, tmp_path, hub, stub_bin, "--yes")
    assert result.returncode == 2 and "not enough disk for the weights" in result.stderr
    assert hub.gets() == []


def test_offline_without_the_weights_says_what_to_fetch(tmp_path, home, hub, stub_bin):
    result = serve(home, tmp_path, hub, stub_bin, "--yes", HF_HUB_OFFLINE="1")
    assert result.returncode == 2
    assert f"HF_HUB_OFFLINE is set: fetch {REPO} {FILE}" in result.stderr and f"hf download {REPO} {FILE}" in result.stderr
    assert hub.requests == []


def test_no_network_says_what_to_fetch(tmp_path, home, stub_bin):
    closed = FakeHub({})
    closed.start()
    closed.stop()  # nothing listens there any more
    result = serve(home, tmp_path, closed, stub_bin, "--yes")
    assert result.returncode == 2 and "cannot reach the Hugging Face hub" in result.stderr
    assert f"hf download {REPO} {FILE}" in result.stderr


def test_a_script_without_yes_is_told_to_answer(tmp_path, home, hub, stub_bin):
    result = serve(home, tmp_path, hub, stub_bin)
    assert result.returncode == 2 and "run `heron serve --yes`" in result.stderr
    assert hub.gets() == []


def test_dry_run_downloads_nothing(tmp_path, home, hub, stub_bin):
    result = serve(home, tmp_path, hub, stub_bin, "--dry-run")
    assert result.returncode == 0 and "would be downloaded first" in result.stdout
    assert hub.gets() == []


def test_a_taken_port_is_refused_before_any_download(tmp_path, home, hub, stub_bin):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(home, tmp_path, hub, stub_bin, "--yes", "--port", str(port))
    assert result.returncode == 2 and f"port {port} on 127.0.0.1 is taken" in result.stderr
    assert hub.gets() == [] and not (stub_bin / "args").exists()


def test_ollama_gets_a_model_created_with_the_planned_window(tmp_path, home, hub):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ollama"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "ollama_stub.py"}" "{bin_dir}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    result = serve(home, tmp_path, hub, bin_dir, "--yes", "--runtime", "ollama", "--context", "4096")
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        env = json.loads((bin_dir / "serve.env").read_text())
        assert env["OLLAMA_CONTEXT_LENGTH"] == "4096" and env["OLLAMA_HOST"].startswith("127.0.0.1:")
        assert (bin_dir / "Modelfile").read_text() == f"FROM {cached_file(tmp_path)}\nPARAMETER num_ctx 4096\n"
        name = (bin_dir / "create.args").read_text().split()[0]
        assert result.stdout.strip().endswith(f"--model {name}")
    finally:
        assert serve(home, tmp_path, hub, bin_dir, "--stop").returncode == 0
