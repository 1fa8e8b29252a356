"""`heron serve`: the command that starts a local server for Qwen3.6-27B with its full window.

Uses what is installed — vLLM, llama.cpp's llama-server (with a GGUF) or Ollama — and starts it,
or with --print only shows the command. Each command asks for what heron relies on: the full
262,144-token window, native tool calls and reasoning, and prompt reuse for this hybrid
Gated-DeltaNet model (vLLM's aligned Mamba cache, llama-server's context checkpoints).
llama-server is the one on PATH, else the one `python -m tests.real_server.setup` built; its
window is the one asked for, but no more than the GGUF's model was trained for.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from agent.errors import UsageError
from agent.serve.gguf import trained_window
from agent.serve.llama_build import server_binary

RUNTIMES = ("vllm", "llama-server", "ollama")
DEFAULT_PORTS = {"vllm": 8000, "llama-server": 8080, "ollama": 11434}
HF_MODEL = "Qwen/Qwen3.6-27B"
OLLAMA_MODEL = "qwen3.6:27b"
INSTALL = {
    "vllm": "pip install -U vllm",
    "llama-server": "brew install llama.cpp (or a release from https://github.com/ggml-org/llama.cpp/releases)",
    "ollama": "curl -fsSL https://ollama.com/install.sh | sh",
}
CONTEXT_CHECKPOINTS = 32  # llama-server: saved states a hybrid model can resume a shared prefix from
# Where tests/real_server/setup.py keeps what it builds and fetches (outside any checkout).
SETUP_CACHE_ENV = "HERON_TEST_CACHE"


def setup_cache() -> Path:
    return Path(os.environ.get(SETUP_CACHE_ENV) or Path.home() / ".cache" / "heron-tests")


def built_llama_server() -> Path:
    """The llama-server the setup script builds from llama.cpp's source."""
    return server_binary(setup_cache())


@dataclass(frozen=True)
class ServeCommand:
    runtime: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    # What to do once it runs (Ollama serves no model until one is pulled).
    note: str = ""

    def shell(self) -> str:
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"{prefix} {shlex.join(self.argv)}".strip()


def vllm_argv(port: int, context: int, model: str = HF_MODEL) -> list[str]:
    return [
        "vllm", "serve", model, "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", str(context),
        "--enable-auto-tool-choice", "--tool-call-parser", "qwen3_coder", "--reasoning-parser", "qwen3",
        # A hybrid model's prefix cache holds Mamba state only at block boundaries: align them.
        "--enable-prefix-caching", "--mamba-cache-mode", "align",
    ]


def llama_server_argv(gguf: Path | str, port: int, context: int, binary: str = "llama-server") -> list[str]:
    """llama-server for a GGUF: the model's own chat template (tool calls, reasoning), one slot
    with the whole window, and context checkpoints so a hybrid model reuses the shared prompt."""
    return [
        binary, "-m", str(gguf), "--jinja", "-c", str(context), "--parallel", "1",
        "--ctx-checkpoints", str(CONTEXT_CHECKPOINTS), "-ngl", "99",
        "--host", "127.0.0.1", "--port", str(port),
    ]


def tuned_llama_server_argv(gguf: Path | str, port: int, context: int, kv: str, binary: str) -> list[str]:
    """llama_server_argv with a planned KV-cache type: flash attention (which a quantized V cache
    needs), and reuse of cached prompt chunks that moved (--cache-reuse)."""
    return [*llama_server_argv(gguf, port, context, binary), "--flash-attn", "on",
            "--cache-type-k", kv, "--cache-type-v", kv, "--cache-reuse", "256"]


def tuned_vllm_argv(model: str, port: int, context: int, kv: str, gpus: int, flags: tuple[str, ...]) -> list[str]:
    argv = [*vllm_argv(port, context, model), *flags]
    if kv != "auto":
        argv += ["--kv-cache-dtype", kv]
    return argv + (["--tensor-parallel-size", str(gpus)] if gpus > 1 else [])


def ollama_env(port: int, context: int, kv: str = "f16") -> dict[str, str]:
    """Ollama takes its window and KV-cache type from its environment (a quantized cache needs
    flash attention)."""
    env = {"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_CONTEXT_LENGTH": str(context)}
    if kv != "f16":
        env.update(OLLAMA_FLASH_ATTENTION="1", OLLAMA_KV_CACHE_TYPE=kv)
    return env


def ollama_command(port: int, context: int) -> ServeCommand:
    return ServeCommand(
        "ollama", ["ollama", "serve"],
        env=ollama_env(port, context),
        note=f"then, once: ollama pull {OLLAMA_MODEL}",
    )


def serve_command(runtime: str, port: int | None, context: int, gguf: str | None,
                  binary: str | None = None) -> ServeCommand:
    port = port or DEFAULT_PORTS[runtime]
    if runtime == "vllm":
        return ServeCommand(runtime, vllm_argv(port, context))
    if runtime == "llama-server":
        if not gguf:
            raise UsageError("llama-server needs a model file: heron serve --gguf PATH "
                             "(Qwen3.6-27B at Q4_K_M is about 17 GB)")
        trained = trained_window(Path(gguf))
        # A window past the trained one wastes memory on a cache the model cannot use well.
        window = min(context, trained) if trained else context
        note = f"the model was trained for {trained:,} tokens: serving that window" if window < context else ""
        return ServeCommand(runtime, llama_server_argv(gguf, port, window, binary or runtime), note=note)
    return ollama_command(port, context)


def installed(runtime: str, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """How to run `runtime`: its name when it is on PATH, the setup script's build of
    llama-server otherwise, or None."""
    if which(runtime):
        return runtime
    if runtime == "llama-server" and os.access(built_llama_server(), os.X_OK):
        return str(built_llama_server())
    return None


def choose_runtime(requested: str | None, gguf: str | None, which: Callable[[str], str | None] = shutil.which) -> str | None:
    """The runtime to use: the one asked for, else the first installed (llama-server first when a
    GGUF is given); None when none is installed."""
    if requested:
        return requested if installed(requested, which) else None
    order = ("llama-server", "vllm", "ollama") if gguf else RUNTIMES
    return next((r for r in order if installed(r, which)), None)


def run_serve(runtime: str | None, port: int | None, context: int, gguf: str | None,
              print_only: bool, out: TextIO) -> int:
    if gguf and not Path(gguf).is_file():
        raise UsageError(f"--gguf {gguf}: no such file")
    if context < 1:
        raise UsageError(f"--context {context}: expected a positive number of tokens")
    chosen = choose_runtime(runtime, gguf)
    if chosen is None:
        missing = runtime or ("llama-server" if gguf else "vllm")
        if not print_only:
            if runtime:
                raise UsageError(f"{runtime} is not installed; install it with: {INSTALL[runtime]}")
            raise UsageError("no model server is installed; install one: "
                             + "; ".join(f"{r}: {INSTALL[r]}" for r in RUNTIMES))
        print(f"# {missing} is not installed; install it with: {INSTALL[missing]}", file=out)
        chosen = missing
    command = serve_command(chosen, port, context, gguf, installed(chosen))
    if print_only:
        print(command.shell(), file=out)
        if command.note:
            print(f"# {command.note}", file=out)
        return 0
    if command.note:
        print(f"heron: {command.note}", file=out)
    out.flush()
    # The server replaces this process, so its signals and exit code are the user's directly.
    os.execvpe(command.argv[0], command.argv, {**os.environ, **command.env})
