"""The hardware probe over recorded outputs of the real tools, the catalogue, the GGUF shape, and
the planner over a table of machines."""

from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

import pytest

from agent.serve.catalogue import Shape, load_catalogue, shape_from_config
from agent.serve.gguf import read_shape
from agent.serve.hardware import (
    GIB,
    MIB,
    Gpu,
    Machine,
    apple_gpu,
    parse_cpuinfo,
    parse_meminfo,
    parse_nvidia_smi,
    parse_rocm_smi,
    parse_sysctl,
)
from agent.serve.plan import NoFit, kv_cache_bytes, make_plan
from tests.conftest import run_heron

DATA = Path(__file__).parent / "data" / "hardware"
CATALOGUE = load_catalogue()
QWEN36 = CATALOGUE[0].shape


def test_nvidia_smi_csv():
    assert parse_nvidia_smi((DATA / "nvidia-smi-rtx4090.csv").read_text()) == [
        Gpu("nvidia", "NVIDIA GeForce RTX 4090", 24564 * MIB, 23817 * MIB)]
    two = parse_nvidia_smi((DATA / "nvidia-smi-2x3090.csv").read_text())
    assert [g.free for g in two] == [24237 * MIB, 21012 * MIB]
    assert parse_nvidia_smi("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.") == []


def test_rocm_smi_json():
    (gpu,) = parse_rocm_smi((DATA / "rocm-smi-7900xtx.json").read_text())
    assert gpu.vendor == "amd" and gpu.name.startswith("Navi31")
    assert gpu.total == 25753026560 and gpu.free == 25753026560 - 1065779200
    assert parse_rocm_smi("not json") == []


def test_apple_unified_memory_from_sysctl():
    sysctl = parse_sysctl((DATA / "sysctl-m2max.txt").read_text())
    assert apple_gpu(sysctl) == [Gpu("apple", "Apple M2 Max", 64 * GIB, 64 * GIB)]
    assert apple_gpu({"machdep.cpu.brand_string": "Intel(R) Core(TM) i9", "hw.memsize": "1"}) == []


def test_meminfo_and_cpuinfo():
    assert parse_meminfo((DATA / "meminfo.txt").read_text()) == (32781448 * 1024, 27391544 * 1024)
    name, features = parse_cpuinfo((DATA / "cpuinfo.txt").read_text())
    assert name == "12th Gen Intel(R) Core(TM) i7-12700K"
    assert features == ("avx_vnni", "avx2", "fma", "f16c")


def test_doctor_shows_the_gpus_a_real_nvidia_smi_output_names(tmp_path, home):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "nvidia-smi"  # prints the recorded output, as the real tool does for that query
    tool.write_text(f'#!/bin/sh\n[ "$1" = "--query-gpu=name,memory.total,memory.free" ] && cat "{DATA / "nvidia-smi-2x3090.csv"}"\n')
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    path = f"{bin_dir}:{os.path.dirname(os.path.realpath('/bin/sh'))}"
    result = run_heron(["doctor", "--base-url", "http://127.0.0.1:9/v1"], home, cwd=tmp_path, PATH=path)
    lines = [" ".join(line.split()) for line in result.stdout.splitlines() if line.startswith("gpu")]
    assert lines == ["gpu NVIDIA GeForce RTX 3090, 24.0 GiB (23.7 GiB free)",
                     "gpu NVIDIA GeForce RTX 3090, 24.0 GiB (20.5 GiB free)"], result.stdout
    assert "ram " in result.stdout and "disk " in result.stdout and "cores" in result.stdout


def test_the_kv_cache_of_qwen36_counts_only_its_attention_layers():
    # 16 attention layers x 4 KV heads x 256 x 2 (K, V) = 32,768 values per token.
    assert QWEN36.kv_values_per_token() == 32768
    assert kv_cache_bytes(QWEN36, 262144, "f16") == 16 * GIB
    assert kv_cache_bytes(QWEN36, 262144, "q8_0") == 8.5 * GIB
    assert kv_cache_bytes(QWEN36, 262144, "q4_0") == 4.5 * GIB
    dense = Shape(262144, 64, 64, 4, 256)  # were every layer attention, it would be four times that
    assert kv_cache_bytes(dense, 262144, "f16") == 64 * GIB


def test_shape_from_a_gguf_with_per_layer_kv_heads(tmp_path):
    def string(text: str) -> bytes:
        return struct.pack("<Q", len(text.encode())) + text.encode()

    heads = [0, 0, 0, 4] * 16  # a hybrid model's GGUF: no KV heads where a layer has no attention
    entries = [string("general.architecture") + struct.pack("<I", 8) + string("qwen35"),
               string("qwen35.block_count") + struct.pack("<II", 4, 64),
               string("qwen35.context_length") + struct.pack("<II", 4, 262144),
               string("qwen35.attention.head_count_kv") + struct.pack("<IIQ", 9, 4, 64) + struct.pack("<64I", *heads),
               string("qwen35.attention.key_length") + struct.pack("<II", 4, 256),
               string("qwen35.attention.value_length") + struct.pack("<II", 4, 256)]
    path = tmp_path / "hybrid.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + b"".join(entries))
    assert read_shape(path) == Shape(262144, 64, 16, 4, 256)


def test_shape_from_qwen36_config_json():
    config = {"text_config": {"num_hidden_layers": 64, "num_key_value_heads": 4, "head_dim": 256,
                              "num_attention_heads": 24, "hidden_size": 5120, "max_position_embeddings": 262144,
                              "layer_types": ["linear_attention"] * 3 + ["full_attention"]} }
    config["text_config"]["layer_types"] *= 16
    assert shape_from_config(json.loads(json.dumps(config))) == Shape(262144, 64, 16, 4, 256)


def gpu(gib: int, vendor: str = "nvidia") -> Gpu:
    return Gpu(vendor, "GPU", gib * GIB, gib * GIB)


MACHINES = {
    "8 GB laptop": Machine((), 8 * GIB, 6 * GIB, 200 * GIB, 8),
    "16 GB GPU": Machine((gpu(16),), 32 * GIB, 28 * GIB, 500 * GIB, 8),
    "24 GB GPU": Machine((gpu(24),), 64 * GIB, 60 * GIB, 500 * GIB, 16),
    "2 x 24 GB": Machine((gpu(24), gpu(24)), 64 * GIB, 60 * GIB, 500 * GIB, 16),
    "48 GB GPU": Machine((gpu(48),), 128 * GIB, 120 * GIB, 500 * GIB, 32),
    "80 GB GPU": Machine((gpu(80),), 256 * GIB, 250 * GIB, 900 * GIB, 64),
    "64 GB Mac": Machine((Gpu("apple", "Apple M2 Max", 64 * GIB, 64 * GIB),), 64 * GIB, 64 * GIB, 900 * GIB, 12),
    "CPU only, 32 GB": Machine((), 32 * GIB, 30 * GIB, 500 * GIB, 16),
}
LLAMA = frozenset({"llama-server"})
BOTH = frozenset({"vllm", "llama-server"})


@pytest.mark.parametrize("machine, runtimes, expected", [
    # (model, quant, server, window, KV type)
    ("8 GB laptop", LLAMA, ("qwen2.5-coder-7b", "Q4_K_M", "llama-server", 32768, "q4_0")),
    ("16 GB GPU", LLAMA, ("qwen2.5-coder-7b", "Q4_K_M", "llama-server", 32768, "f16")),
    ("24 GB GPU", LLAMA, ("qwen3.6-27b", "Q4_K_M", "llama-server", 262144, "q4_0")),
    ("24 GB GPU", BOTH, ("qwen3.6-27b", "Q4_K_M", "llama-server", 262144, "q4_0")),  # no vLLM build fits 24 GB
    ("2 x 24 GB", LLAMA, ("qwen3.6-27b", "Q8_0", "llama-server", 262144, "f16")),
    ("2 x 24 GB", BOTH, ("qwen3.6-27b", "FP8", "vllm", 262144, "fp8")),
    ("48 GB GPU", BOTH, ("qwen3.6-27b", "FP8", "vllm", 262144, "fp8")),
    ("80 GB GPU", BOTH, ("qwen3.6-27b", "FP8", "vllm", 262144, "auto")),
    ("64 GB Mac", BOTH, ("qwen3.6-27b", "Q8_0", "llama-server", 262144, "f16")),  # no vLLM on a Mac
    ("CPU only, 32 GB", LLAMA, ("qwen3.6-27b", "Q6_K", "llama-server", 262144, "q8_0")),
])
def test_plans_over_a_table_of_machines(machine, runtimes, expected):
    plan = make_plan(MACHINES[machine], CATALOGUE, runtimes, can_build=False)
    assert (plan.model.id, plan.variant.quant, plan.runtime, plan.window, plan.kv_type) == expected
    assert plan.needed <= plan.budget.total
    text = plan.render()
    assert f"{plan.window:,} tokens" in text and f"({plan.kv_type})" in text


def test_the_small_model_is_named_plainly_with_its_figures():
    plan = make_plan(MACHINES["16 GB GPU"], CATALOGUE, LLAMA, can_build=False)
    (note,) = plan.notes
    assert note.startswith("Qwen3.6-27B does not fit this machine (Qwen3.6-27B needs at least ")
    assert "much weaker agent" in note


def test_a_shorter_window_only_when_no_quantized_cache_makes_the_full_one_fit():
    tight = Machine((gpu(20),), 64 * GIB, 60 * GIB, 500 * GIB, 16)
    plan = make_plan(tight, CATALOGUE, LLAMA, can_build=False)
    assert (plan.variant.quant, plan.kv_type) == ("Q4_K_M", "q4_0") and 32768 <= plan.window < 262144
    assert plan.window % 4096 == 0 and plan.needed <= plan.budget.total
    assert any("the full 262,144-token window does not fit" in line for line in plan.arithmetic)


def test_no_server_and_no_build_is_no_plan():
    with pytest.raises(NoFit, match="install vLLM"):
        make_plan(MACHINES["48 GB GPU"], CATALOGUE, frozenset(), can_build=False)
    assert make_plan(MACHINES["48 GB GPU"], CATALOGUE, frozenset(), can_build=True).build


def test_nothing_fits_a_tiny_machine():
    with pytest.raises(NoFit, match="no model fits this machine"):
        make_plan(Machine((), 4 * GIB, 3 * GIB, 100 * GIB, 2), CATALOGUE, LLAMA, can_build=False)


def test_context_caps_the_window():
    plan = make_plan(MACHINES["80 GB GPU"], CATALOGUE, LLAMA, can_build=False, max_window=65536)
    assert plan.window == 65536
