"""Finding the model server and learning what it is: its kind, its model and its context window.

With no base URL configured, the usual local ports are tried in order and the first that answers
/v1/models is used. The kind decides where the window is read (vLLM and SGLang: `max_model_len`
in /v1/models; llama-server: /props `n_ctx`; Ollama: /api/show; LM Studio: /api/v0/models/ID)
and which request extras the server takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.config import FULL_WINDOW, Config
from agent.errors import ServerError
from agent.model.client import unreachable
from agent.model.http import Http

# Seconds to wait for an answer: short when trying the usual ports (a port nobody listens on
# refuses at once), longer for the configured server, which may be busy with other requests.
PROBE_TIMEOUT = 2.0
CONFIGURED_TIMEOUT = 30.0
KIND_NAMES = {"vllm": "vLLM", "sglang": "SGLang", "llama-server": "llama-server", "ollama": "Ollama",
              "lmstudio": "LM Studio", "openai": "an OpenAI-compatible server"}
# Servers whose chat template takes `chat_template_kwargs` (Qwen3.6 reads enable_thinking and
# preserve_thinking there; without the latter its tool arguments degrade after a few turns).
TEMPLATE_KWARGS_KINDS = ("vllm", "sglang", "llama-server")


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    kind: str  # one of KIND_NAMES
    models: tuple[str, ...]
    model: str
    context_window: int | None

    @property
    def kind_name(self) -> str:
        return KIND_NAMES[self.kind]

    def request_extras(self, enable_thinking: bool) -> dict[str, Any]:
        """Fields this kind of server takes beyond the OpenAI protocol."""
        if self.kind in TEMPLATE_KWARGS_KINDS:
            return {"chat_template_kwargs": {"enable_thinking": enable_thinking, "preserve_thinking": True}}
        if self.kind == "ollama" and self.context_window:
            # Ollama's small default num_ctx silently cuts long prompts.
            return {"options": {"num_ctx": self.context_window}}
        return {}

    def window_warning(self) -> str | None:
        if self.context_window is None or self.context_window >= FULL_WINDOW:
            return None
        return (f"{self.kind_name} at {self.base_url} serves a {self.context_window:,}-token window, below "
                f"Qwen3.6's {FULL_WINDOW:,}: long sessions will run out of room; `heron serve --print` "
                "shows how to start it with the full window")


def find_endpoint(config: Config) -> Endpoint:
    """The configured server, or the first that answers on the probe addresses; one-line errors."""
    if config.base_url:
        endpoint = probe(config.base_url, config, timeout=CONFIGURED_TIMEOUT)
        if endpoint is None:
            raise unreachable(config.base_url)
        return endpoint
    for address in config.probe_addresses:
        try:
            endpoint = probe(f"http://{address}/v1", config, timeout=PROBE_TIMEOUT)
        except ServerError:
            continue  # something else listens there
        if endpoint is not None:
            return endpoint
    raise ServerError(
        f"no model server answers on {', '.join(config.probe_addresses)}. Start one (`heron serve` "
        "starts one, `heron serve --print` shows how) or point --base-url at it."
    )


def served_models(base_url: str, config: Config) -> tuple[str, ...]:
    """The models the server at base_url lists now (for switching between them)."""
    endpoint = probe(base_url, config, timeout=CONFIGURED_TIMEOUT)
    if endpoint is None:
        raise unreachable(base_url)
    return endpoint.models


def probe(base_url: str, config: Config, timeout: float) -> Endpoint | None:
    """What serves at base_url, or None when nothing answers there."""
    base_url = base_url.rstrip("/")
    http = Http(config.api_key, timeout)
    try:
        listing = http.get(f"{base_url}/models")
    except OSError:
        return None
    except ServerError as e:
        raise ServerError(f"the server at {base_url} did not list its models: {e}") from None
    entries = [m for m in (listing.get("data") or []) if isinstance(m, dict) and m.get("id")] \
        if isinstance(listing, dict) else []
    if not entries:
        raise ServerError(f"the server at {base_url} serves no model; load one or set --model")
    models = tuple(str(m["id"]) for m in entries)
    model = config.model or models[0]
    root = base_url.removesuffix("/v1")
    kind = _kind(entries[0], root, http)
    entry = next((m for m in entries if m["id"] == model), entries[0])
    window = config.context_window or _window(kind, entry, root, model, http)
    return Endpoint(base_url, kind, models, model, window)


def _kind(entry: dict[str, Any], root: str, http: Http) -> str:
    owner = entry.get("owned_by")
    if owner in ("vllm", "sglang"):
        return str(owner)
    if owner == "llamacpp":
        return "llama-server"
    if isinstance(http.get_or_none(f"{root}/api/version"), dict):
        return "ollama"
    props = http.get_or_none(f"{root}/props")
    if isinstance(props, dict) and "default_generation_settings" in props:
        return "llama-server"
    if isinstance(http.get_or_none(f"{root}/api/v0/models/{entry['id']}"), dict):
        return "lmstudio"
    return "openai"


def _window(kind: str, entry: dict[str, Any], root: str, model: str, http: Http) -> int | None:
    if _positive(entry.get("max_model_len")):
        return int(entry["max_model_len"])
    if kind == "llama-server":
        props = http.get_or_none(f"{root}/props") or {}
        # Per slot: with --parallel N each request gets n_ctx / N, which is what counts here.
        return _positive((props.get("default_generation_settings") or {}).get("n_ctx")) or _positive(props.get("n_ctx"))
    if kind == "ollama":
        return _ollama_window(http.post_or_none(f"{root}/api/show", {"model": model}) or {})
    if kind == "lmstudio":
        info = http.get_or_none(f"{root}/api/v0/models/{model}") or {}
        return _positive(info.get("loaded_context_length")) or _positive(info.get("max_context_length"))
    return None


def _ollama_window(show: dict[str, Any]) -> int | None:
    """The window heron asks Ollama for: the model's own length, up to the full window, unless the
    Modelfile pins num_ctx."""
    for line in str(show.get("parameters") or "").splitlines():
        name, _, value = line.strip().partition(" ")
        if name == "num_ctx" and value.strip().isdigit():
            return int(value.strip())
    info = show.get("model_info") or {}
    trained = next((_positive(v) for k, v in info.items() if k.endswith(".context_length")), None)
    return min(trained, FULL_WINDOW) if trained else None


def _positive(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
