"""The model catalogue (catalogue.toml, package data): models, their shape, and the files to run."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources

from agent.errors import UsageError

BACKENDS = ("gguf", "vllm")  # gguf: llama-server or Ollama; vllm: safetensors for vLLM


@dataclass(frozen=True)
class Shape:
    """What the KV-cache arithmetic needs: only attention layers grow with the context."""

    window: int
    layers: int
    attention_layers: int
    kv_heads: int
    head_dim: int
    recurrent_state: int = 0  # bytes per sequence, fixed (linear-attention layers)

    def kv_values_per_token(self) -> int:
        return 2 * self.attention_layers * self.kv_heads * self.head_dim  # K and V


@dataclass(frozen=True)
class Variant:
    backend: str
    quant: str
    repo: str
    size: int  # bytes, approximate
    files: tuple[str, ...] = ()  # empty: the whole repository (vLLM)
    sha256: str | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    shape: Shape
    variants: tuple[Variant, ...]
    ollama_name: str = "heron-model"


def load_catalogue(text: str | None = None) -> tuple[Model, ...]:
    """The packaged catalogue, or one given as TOML text."""
    if text is None:
        text = resources.files("agent.serve").joinpath("catalogue.toml").read_text()
    try:
        data = tomllib.loads(text)
        return tuple(_model(m) for m in data["model"])
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as e:
        raise UsageError(f"the model catalogue is malformed: {e}") from None


def _model(m: dict) -> Model:
    shape = Shape(m["window"], m["layers"], m["attention_layers"], m["kv_heads"], m["head_dim"],
                  m.get("recurrent_state", 0))
    variants = []
    for v in m["variant"]:
        if v["backend"] not in BACKENDS:
            raise ValueError(f"{m['id']}: unknown backend {v['backend']!r}")
        variants.append(Variant(v["backend"], v["quant"], v["repo"], int(v["size"]), tuple(v.get("files", ())),
                                v.get("sha256"), tuple(v.get("flags", ()))))
    return Model(m["id"], m["name"], shape, tuple(variants), m.get("ollama_name", f"heron-{m['id']}"))


def shape_from_config(config: dict) -> Shape:
    """A Hugging Face config.json's shape (a multimodal model keeps it under text_config)."""
    text = config.get("text_config", config)
    try:
        layers = int(text["num_hidden_layers"])
        types = text.get("layer_types")
        interval = text.get("full_attention_interval")
        attention = (sum(1 for t in types if t == "full_attention") if types
                     else layers // int(interval) if interval else layers)
        head_dim = int(text.get("head_dim") or int(text["hidden_size"]) // int(text["num_attention_heads"]))
        return Shape(int(text.get("max_position_embeddings", 32768)), layers, attention,
                     int(text["num_key_value_heads"]), head_dim)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        raise UsageError(f"the model's config.json does not give its shape ({e})") from None
