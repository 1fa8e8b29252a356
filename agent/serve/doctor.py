"""`heron doctor`: is the local server ready for heron? Finds it, then tries it with tiny requests.

Prints this machine's GPUs, memory, disk and CPU (what `heron serve` plans with); the server kind, model and window; whether tool calls come back native, recovered from
text, or only through the text protocol; whether reasoning arrives apart from the answer; whether
the prefix cache is reused between two requests with the same prefix; and what to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from agent.config import FULL_WINDOW, Config
from agent.core.build import model_client, open_egress
from agent.errors import ServerError
from agent.model.client import Turn
from agent.model.endpoint import Endpoint, find_endpoint
from agent.serve.download import cache_dir
from agent.serve.hardware import probe
from prompts import render

PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "echo",
        "description": "Repeat a word back.",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
}
TOOL_ANSWER_TOKENS = 512
REASONING_TOKENS = 1024
# Long enough to fill whole cache blocks: vLLM caches a hybrid model's prefix in 528-token blocks.
CACHE_PREFIX_LINES = 200


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    ready: bool = True

    def add(self, label: str, value: str) -> None:
        self.lines.append((label, value))

    def render(self) -> str:
        width = max(len(label) for label, _ in self.lines)
        out = [f"{label:<{width}}  {value}" for label, value in self.lines]
        out += [f"change: {c}" for c in self.changes]
        out.append("ready" if self.ready else "not ready")
        return "\n".join(out)


def run_doctor(config: Config, out: TextIO) -> int:
    report = Report()
    for label, value in probe(cache_dir()).describe():
        report.add(label, value)
    try:
        endpoint = find_endpoint(config)
    except ServerError as e:
        report.add("server", f"not found: {e}")
        report.changes.append("start a server: `heron serve` plans, downloads and starts one (`heron serve --dry-run` shows the plan)")
        report.ready = False
        print(report.render(), file=out)
        return 3
    report.add("server", f"{endpoint.kind_name} at {endpoint.base_url}")
    report.add("model", endpoint.model)
    _check_window(endpoint, report)
    try:
        _check_tools(config, endpoint, report)
        _check_reasoning(config, endpoint, report)
        _check_prefix_cache(config, endpoint, report)
    except ServerError as e:
        report.add("request", f"failed: {e}")
        report.ready = False
    print(report.render(), file=out)
    return 0 if report.ready else 3


def _check_window(endpoint: Endpoint, report: Report) -> None:
    if endpoint.context_window is None:
        report.add("window", "not reported by the server")
        return
    report.add("window", f"{endpoint.context_window:,} tokens")
    if endpoint.context_window < FULL_WINDOW:
        report.changes.append(_WINDOW_ADVICE.get(endpoint.kind, f"serve the model with a {FULL_WINDOW:,}-token window"))


def _check_tools(config: Config, endpoint: Endpoint, report: Report) -> None:
    model = model_client(config, endpoint, open_egress(config, None), enable_thinking=False,
                         max_output_tokens=TOOL_ANSWER_TOKENS)
    messages = [{"role": "user", "content": 'Call the echo tool with the text "ready". Do not answer in prose.'}]
    turn = model.complete(messages, [PROBE_TOOL], lambda event: None)
    called = any(c.name == "echo" for c in turn.tool_calls)
    if called and model.text_protocol:
        report.add("tool calls", "text protocol (the server rejects `tools`; heron describes them in the prompt)")
        report.changes.append(_TOOLS_ADVICE.get(endpoint.kind, "enable tool calling on the server"))
    elif called and turn.recovered:
        report.add("tool calls", "recovered from text (the server did not parse them)")
        report.changes.append(_RECOVERED_ADVICE.get(endpoint.kind) or _TOOLS_ADVICE.get(
            endpoint.kind, "enable the server's tool-call parser"))
    elif called:
        report.add("tool calls", "native")
    else:
        report.add("tool calls", f"none: the model answered {_brief(turn)}")
        report.changes.append("serve a model that calls tools (Qwen3.6-27B) with its own chat template")
        report.ready = False


def _check_reasoning(config: Config, endpoint: Endpoint, report: Report) -> None:
    model = model_client(config, endpoint, open_egress(config, None), enable_thinking=True,
                         max_output_tokens=REASONING_TOKENS)
    turn = model.complete([{"role": "user", "content": "What is 17 + 25? Answer with the number only."}], [],
                          lambda event: None)
    if turn.reasoning.strip():
        report.add("reasoning", "yes, apart from the answer")
    else:
        report.add("reasoning", "none seen")
        report.changes.append(_REASONING_ADVICE.get(endpoint.kind, "enable the server's reasoning parser"))


def _check_prefix_cache(config: Config, endpoint: Endpoint, report: Report) -> None:
    model = model_client(config, endpoint, open_egress(config, None), enable_thinking=False, max_output_tokens=1)
    lines = "\n".join(f"{n}. heron checks whether the server keeps this prefix." for n in range(CACHE_PREFIX_LINES))
    messages = [{"role": "system", "content": render("doctor_cache", lines=lines)},
                {"role": "user", "content": "Say OK."}]
    model.complete(messages, [], lambda event: None)
    second = model.complete(messages, [], lambda event: None)
    usage = second.usage
    if usage is None or usage.cached_tokens is None:
        report.add("prefix cache", "not reported by the server")
    elif usage.cached_tokens > 0:
        report.add("prefix cache", f"reused {usage.cached_tokens:,} of {usage.prompt_tokens:,} prompt tokens")
    else:
        report.add("prefix cache", f"no reuse of {usage.prompt_tokens:,} prompt tokens")
        report.changes.append(_CACHE_ADVICE.get(endpoint.kind, "enable the server's prefix cache"))


def _brief(turn: Turn) -> str:
    text = " ".join(turn.text.split())
    return repr(text[:80] + ("…" if len(text) > 80 else "")) if text else "nothing"


_WINDOW_ADVICE = {
    "vllm": f"restart vLLM with --max-model-len {FULL_WINDOW}",
    "sglang": f"restart SGLang with --context-length {FULL_WINDOW}",
    "llama-server": f"restart llama-server with -c {FULL_WINDOW} (and --parallel 1: each slot gets n_ctx / N)",
    "ollama": f"start Ollama with OLLAMA_CONTEXT_LENGTH={FULL_WINDOW}, or set PARAMETER num_ctx {FULL_WINDOW} in a Modelfile",
    "lmstudio": f"load the model in LM Studio with a context length of {FULL_WINDOW}",
}
_TOOLS_ADVICE = {
    "vllm": "restart vLLM with --enable-auto-tool-choice --tool-call-parser qwen3_coder",
    "sglang": "restart SGLang with --tool-call-parser qwen3_coder",
    "llama-server": "restart llama-server with --jinja",
    "ollama": "use an Ollama model whose template supports tools (qwen3.6)",
}
# The server took `tools` (so llama-server has --jinja) yet returned the calls as text.
_RECOVERED_ADVICE = {
    "llama-server": ("llama-server could not parse the calls the model's chat template makes it write "
                     "(heron recovers them): use the model's official GGUF, or --chat-template-file "
                     "with a template llama.cpp parses"),
}
_REASONING_ADVICE = {
    "vllm": "restart vLLM with --reasoning-parser qwen3",
    "sglang": "restart SGLang with --reasoning-parser qwen3",
    "llama-server": "restart llama-server with --jinja --reasoning-format deepseek",
}
_CACHE_ADVICE = {
    "vllm": "restart vLLM with --enable-prefix-caching --mamba-cache-mode align",
    "llama-server": "restart llama-server with --ctx-checkpoints 32 (hybrid models reuse prompts through checkpoints)",
}
