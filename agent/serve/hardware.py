"""What this machine has for serving a model: GPUs and their memory, RAM, free disk, CPU cores and
features. Each source is a real tool's output (nvidia-smi, rocm-smi, sysctl, /proc), parsed by a
pure function so recorded outputs test it; `probe()` runs the tools that are present.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

MIB = 1 << 20
GIB = 1 << 30
NVIDIA_QUERY = ["nvidia-smi", "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"]
ROCM_QUERY = ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"]
SYSCTL_QUERY = ["sysctl", "hw.memsize", "hw.ncpu", "machdep.cpu.brand_string"]
# The CPU features llama.cpp's CPU backend is fastest with, in the order worth showing.
CPU_FEATURES = ("avx512f", "avx512_vnni", "avx_vnni", "avx2", "fma", "f16c", "neon", "sve", "dotprod", "i8mm")


@dataclass(frozen=True)
class Gpu:
    vendor: str  # "nvidia", "amd" or "apple"
    name: str
    total: int  # bytes
    free: int  # bytes


@dataclass(frozen=True)
class Machine:
    gpus: tuple[Gpu, ...]
    ram: int  # bytes
    ram_available: int
    disk_free: int  # bytes free where the weights go
    cores: int
    cpu: str = ""
    cpu_features: tuple[str, ...] = ()
    system: str = field(default_factory=platform.system)

    @property
    def unified(self) -> bool:
        """Apple Silicon: the GPU's memory is the RAM."""
        return any(g.vendor == "apple" for g in self.gpus)

    def describe(self) -> list[tuple[str, str]]:
        rows = [("gpu", f"{g.name}, {gib(g.total)} ({gib(g.free)} free)" + (" unified" if g.vendor == "apple" else ""))
                for g in self.gpus] or [("gpu", "none found (nvidia-smi, rocm-smi, Apple Silicon)")]
        rows += [("ram", f"{gib(self.ram)} ({gib(self.ram_available)} available)"),
                 ("disk", f"{gib(self.disk_free)} free"),
                 ("cpu", f"{self.cpu or 'unknown'}, {self.cores} cores"
                         + (f", {' '.join(self.cpu_features)}" if self.cpu_features else ""))]
        return rows


def gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """`nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits` (MiB)."""
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(Gpu("nvidia", parts[0], int(parts[1]) * MIB, int(parts[2]) * MIB))
    return gpus


def parse_rocm_smi(text: str) -> list[Gpu]:
    """`rocm-smi --showproductname --showmeminfo vram --json`: one object per card, sizes in bytes."""
    try:
        cards = json.loads(text)
    except ValueError:
        return []
    gpus = []
    for key, card in sorted(cards.items()) if isinstance(cards, dict) else []:
        if not key.startswith("card") or "VRAM Total Memory (B)" not in card:
            continue
        total = int(card["VRAM Total Memory (B)"])
        used = int(card.get("VRAM Total Used Memory (B)", 0))
        gpus.append(Gpu("amd", card.get("Card Series") or card.get("Card series") or key, total, total - used))
    return gpus


def parse_sysctl(text: str) -> dict[str, str]:
    """`sysctl NAME...` prints `name: value` lines."""
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


def apple_gpu(sysctl: dict[str, str]) -> list[Gpu]:
    """Apple Silicon shares its RAM with the GPU: the whole of it, as one unified GPU."""
    brand = sysctl.get("machdep.cpu.brand_string", "")
    if not brand.startswith("Apple") or not sysctl.get("hw.memsize", "").isdigit():
        return []
    memory = int(sysctl["hw.memsize"])
    return [Gpu("apple", brand, memory, memory)]


def parse_meminfo(text: str) -> tuple[int, int]:
    """/proc/meminfo: (total, available) in bytes."""
    fields = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in text.splitlines() if ":" in line)}
    return fields.get("MemTotal", 0), fields.get("MemAvailable", fields.get("MemFree", 0))


def parse_cpuinfo(text: str) -> tuple[str, tuple[str, ...]]:
    """/proc/cpuinfo: the model name and the features that matter for inference."""
    name, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return name, tuple(f for f in CPU_FEATURES if f in flags)


def _run(argv: list[str]) -> str | None:
    if not shutil.which(argv[0]):
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def probe(weights_dir: Path, run: Callable[[list[str]], str | None] = _run) -> Machine:
    """This machine, from the tools present; `weights_dir` is where downloads will go."""
    gpus = parse_nvidia_smi(run(NVIDIA_QUERY) or "") + parse_rocm_smi(run(ROCM_QUERY) or "")
    sysctl = parse_sysctl(run(SYSCTL_QUERY) or "") if platform.system() == "Darwin" else {}
    gpus += apple_gpu(sysctl)
    ram, available = parse_meminfo(_read("/proc/meminfo"))
    cpu, features = parse_cpuinfo(_read("/proc/cpuinfo"))
    if sysctl:
        ram = available = int(sysctl.get("hw.memsize", "0") or 0)
        cpu = sysctl.get("machdep.cpu.brand_string", cpu)
        features = ("neon",) if cpu.startswith("Apple") else features
    disk = shutil.disk_usage(nearest_existing(weights_dir)).free
    return Machine(tuple(gpus), ram, available, disk, os.cpu_count() or 1, cpu, features)
