"""The plan: which model file, server, context window and KV-cache type fit this machine.

A pure function of the machine and the catalogue. The KV cache is computed from the model's
shape: K and V for every *attention* layer, KV heads x head size values each, per token; a hybrid
model's linear-attention layers (Qwen3.6's Gated DeltaNet) keep a fixed state instead, counted once.
The full window with a quantized KV cache is preferred to a shorter window: heron's prompts are
long (repository map, history), and q8_0 keys and values cost little quality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.serve.catalogue import Model, Shape, Variant
from agent.serve.hardware import GIB, Machine

# Bytes per K or V value: llama.cpp's q8_0 packs 32 values in 34 bytes, q4_0 32 in 18.
KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "auto": 2.0, "fp8": 1.0}
# Tried in this order at the full window: good enough, then (upgraded when it fits) the best,
# then the smallest. vLLM's "auto" is the model's own bf16.
KV_ORDER = {"gguf": (("q8_0", "f16"), ("q4_0",)), "vllm": (("fp8", "auto"),)}
MIN_WINDOW = 32768  # below this heron's prompt (map, tools, history) leaves no room to work
WINDOW_STEP = 4096
GPU_RESERVE = 1 * GIB  # per GPU: the driver's context, a desktop's framebuffer
COMPUTE = 1 * GIB  # llama.cpp's compute buffers with flash attention
OS_RESERVE = 2 * GIB  # CPU only: what the system and heron itself keep
APPLE_GPU_SHARE = 0.75  # macOS lets the GPU wire about three quarters of unified memory
VLLM_UTILIZATION = 0.90  # vLLM's default --gpu-memory-utilization
VLLM_OVERHEAD = 2 * GIB  # per GPU: activations and CUDA graphs outside vLLM's KV pool


@dataclass(frozen=True)
class Budget:
    backend: str
    total: int
    terms: tuple[tuple[str, int], ...]  # (what, bytes): the start, then what is taken off
    gpus: int = 0  # GPUs used (vLLM's tensor parallel size)

    def render(self) -> str:
        first, *rest = self.terms
        parts = [f"{first[1] / GIB:.2f} GiB {first[0]}"] + [f"{b / GIB:.2f} GiB {w}" for w, b in rest]
        return " - ".join(parts) + f" = {self.total / GIB:.2f} GiB"


@dataclass(frozen=True)
class Plan:
    model: Model
    variant: Variant
    runtime: str  # "vllm", "llama-server" or "ollama"
    window: int
    kv_type: str
    budget: Budget
    kv_bytes: int
    build: bool = False  # llama-server must be built first
    notes: tuple[str, ...] = ()
    arithmetic: tuple[str, ...] = field(default=(), compare=False)

    @property
    def needed(self) -> int:
        return self.variant.size + self.kv_bytes

    def render(self) -> str:
        v = self.variant
        source = f"{v.repo}" + (f": {', '.join(v.files)}" if v.files else " (whole repository)")
        rows = [("model", f"{self.model.name} {v.quant} from {source}, {v.size / GIB:.2f} GiB"),
                ("server", self.runtime + (" (to be built from llama.cpp's source)" if self.build else "")),
                ("budget", self.budget.render()),
                ("kv cache", kv_formula(self.model.shape, self.window, self.kv_type)),
                ("total", f"{v.size / GIB:.2f} GiB weights + {self.kv_bytes / GIB:.2f} GiB KV = "
                          f"{self.needed / GIB:.2f} GiB of {self.budget.total / GIB:.2f} GiB"),
                ("window", f"{self.window:,} tokens, KV cache {self.kv_type}")]
        rows += [("why", line) for line in self.arithmetic]
        rows += [("note", n) for n in self.notes]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


class NoFit(Exception):
    """Nothing in the catalogue fits; the message has the figures."""


def kv_cache_bytes(shape: Shape, tokens: int, kv_type: str) -> int:
    return int(shape.kv_values_per_token() * tokens * KV_BYTES[kv_type])


def kv_formula(shape: Shape, tokens: int, kv_type: str) -> str:
    hybrid = shape.attention_layers < shape.layers
    layers = (f"{shape.attention_layers} attention layers (of {shape.layers}; the others keep a fixed state)"
              if hybrid else f"{shape.layers} layers")
    return (f"{layers} x {shape.kv_heads} KV heads x {shape.head_dim} dims x 2 (K, V) x {tokens:,} tokens x "
            f"{KV_BYTES[kv_type]:.4g} bytes ({kv_type}) = {kv_cache_bytes(shape, tokens, kv_type) / GIB:.2f} GiB")


def budget(machine: Machine, backend: str, shape: Shape) -> Budget | None:
    """Memory the model may use on this machine with this backend; None when it cannot run there."""
    state = ("recurrent state", shape.recurrent_state)
    discrete = [g for g in machine.gpus if g.vendor in ("nvidia", "amd")]
    if backend == "vllm":
        if not discrete:
            return None
        count = 1 << (len(discrete).bit_length() - 1)  # tensor parallel: a power of two
        per_gpu = min(g.total for g in discrete)
        terms = ((f"vLLM's {VLLM_UTILIZATION:.0%} of {count} x {per_gpu / GIB:.1f} GiB", int(count * per_gpu * VLLM_UTILIZATION)),
                 ("activations", count * VLLM_OVERHEAD), state)
        return Budget(backend, terms[0][1] - terms[1][1] - state[1], terms, count)
    if discrete:
        total = sum(g.total for g in discrete)
        terms = ((f"GPU ({len(discrete)} x)" if len(discrete) > 1 else "GPU", total),
                 ("driver reserve", GPU_RESERVE * len(discrete)), ("compute buffers", COMPUTE), state)
    elif machine.unified:
        memory = machine.gpus[0].total
        terms = ((f"unified x {APPLE_GPU_SHARE}", int(memory * APPLE_GPU_SHARE)), ("compute buffers", COMPUTE), state)
    else:
        terms = (("RAM", machine.ram), ("system", OS_RESERVE), ("compute buffers", COMPUTE), state)
    return Budget(backend, terms[0][1] - sum(b for _, b in terms[1:]), terms)


def _gguf_runtime(runtimes: frozenset[str], can_build: bool) -> tuple[str, bool] | None:
    if "llama-server" in runtimes:
        return "llama-server", False
    if "ollama" in runtimes:
        return "ollama", False
    return ("llama-server", True) if can_build else None


def make_plan(machine: Machine, catalogue: tuple[Model, ...], runtimes: frozenset[str], can_build: bool,
              max_window: int | None = None) -> Plan:
    """The best plan: the first model of the catalogue that fits, at its full window when it can."""
    tried: list[str] = []
    for index, model in enumerate(catalogue):
        options = _backends(machine, model, runtimes, can_build)
        window = min(model.shape.window, max_window or model.shape.window)
        for full in (True, False):
            for backend, runtime, build, room in options:
                plan = _fit(model, backend, room, window, full)
                if plan:
                    notes = _notes(machine, catalogue, index, tried)
                    return Plan(model, plan[0], runtime, plan[1], plan[2], room,
                                kv_cache_bytes(model.shape, plan[1], plan[2]), build, notes, plan[3])
        smallest = min((v.size for v in model.variants), default=0)
        tried.append(f"{model.name} needs at least {(smallest + kv_cache_bytes(model.shape, MIN_WINDOW, 'q4_0')) / GIB:.1f} GiB")
    if not any(_backends(machine, m, runtimes, can_build) for m in catalogue):
        raise NoFit("no server can run a catalogue model here: install vLLM (NVIDIA/AMD GPU), llama-server or Ollama")
    rooms = {b.backend: b for m in catalogue for _, _, _, b in _backends(machine, m, runtimes, can_build)}
    have = ", ".join(f"{b.total / GIB:.1f} GiB for {k}" for k, b in rooms.items())
    raise NoFit(f"no model fits this machine ({have}): " + "; ".join(tried))


def _backends(machine: Machine, model: Model, runtimes: frozenset[str], can_build: bool) -> list[tuple[str, str, bool, Budget]]:
    out = []
    if "vllm" in runtimes and any(v.backend == "vllm" for v in model.variants):
        room = budget(machine, "vllm", model.shape)
        if room:
            out.append(("vllm", "vllm", False, room))
    gguf = _gguf_runtime(runtimes, can_build)
    if gguf and any(v.backend == "gguf" for v in model.variants):
        out.append(("gguf", gguf[0], gguf[1], budget(machine, "gguf", model.shape)))  # type: ignore[arg-type]
    return out


def _fit(model: Model, backend: str, room: Budget, window: int, full: bool) -> tuple[Variant, int, str, tuple[str, ...]] | None:
    """(variant, window, KV type, why) for the best fit: the largest file at `window` with the
    first KV tier that fits (upgraded within the tier when it still fits); with full=False the
    smallest file and KV at the largest window that fits."""
    variants = sorted((v for v in model.variants if v.backend == backend), key=lambda v: -v.size)
    shape = model.shape
    if full:
        why: list[str] = []
        for tier in KV_ORDER[backend]:
            for variant in variants:
                if variant.size + kv_cache_bytes(shape, window, tier[0]) > room.total:
                    why.append(f"{variant.quant} with {tier[0]} KV needs "
                               f"{(variant.size + kv_cache_bytes(shape, window, tier[0])) / GIB:.2f} GiB: too much")
                    continue
                best = [kv for kv in tier if variant.size + kv_cache_bytes(shape, window, kv) <= room.total][-1]
                return variant, window, best, tuple(why)
        return None
    variant, kv = variants[-1], KV_ORDER[backend][-1][0]
    per_token = shape.kv_values_per_token() * KV_BYTES[kv]
    fits = int((room.total - variant.size) / per_token) // WINDOW_STEP * WINDOW_STEP if room.total > variant.size else 0
    if fits < MIN_WINDOW:
        return None
    return variant, min(fits, window), kv, (f"the full {window:,}-token window does not fit: the largest that does is {fits:,}",)


def _notes(machine: Machine, catalogue: tuple[Model, ...], index: int, tried: list[str]) -> tuple[str, ...]:
    notes = []
    if index > 0:
        notes.append(f"{catalogue[0].name} does not fit this machine ({'; '.join(tried)}); "
                     f"{catalogue[index].name} is a much weaker agent: expect more mistakes")
    if not machine.gpus:
        notes.append("no GPU: the model runs on the CPU, expect a few tokens per second")
    return tuple(notes)
