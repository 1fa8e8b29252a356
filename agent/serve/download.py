"""Fetching weights with huggingface_hub: its shared cache (what vLLM, llama.cpp's -hf and other
tools read too), resumable partial files, its progress bar, and HF_TOKEN / HF_ENDPOINT /
HF_HUB_OFFLINE as every Hugging Face tool honours them. heron adds what it does not: a refusal
before anything is fetched when the disk is too small, and a sha256 check of every GGUF file,
against the catalogue's figure or else the one the hub reports for the file's LFS object.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from agent.errors import HeronError
from agent.serve.catalogue import Variant
from agent.serve.hardware import GIB, nearest_existing

SHA256 = re.compile(r"^[0-9a-f]{64}$")
DISK_MARGIN = 1 * GIB  # never fill the disk to the last byte


class WeightsError(HeronError):
    """The weights could not be had or are not the right bytes (exit 2: nothing was started)."""

    exit_code = 2


@dataclass(frozen=True)
class Remote:
    size: int
    sha256: str | None


def cache_dir() -> Path:
    return Path(constants.HF_HUB_CACHE)


def offline() -> bool:
    return bool(constants.HF_HUB_OFFLINE)


def how_to_fetch(variant: Variant) -> str:
    what = " ".join(variant.files)
    return (f"fetch {variant.repo}{' ' + what if what else ''} on a machine with network: "
            f"`hf download {variant.repo}{' ' + what if what else ''}` (pip install huggingface_hub), then copy "
            f"{cache_dir()} here; or unset HF_HUB_OFFLINE and run `heron serve` again")


def cached(variant: Variant) -> list[Path] | None:
    """The variant's files when the HF cache already holds them all."""
    try:
        if not variant.files:
            return [Path(snapshot_download(variant.repo, local_files_only=True))]
        return [Path(hf_hub_download(variant.repo, f, local_files_only=True)) for f in variant.files]
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None


def remote(variant: Variant, name: str) -> Remote:
    """Size and sha256 of one file, as the hub (or HF_ENDPOINT) reports them."""
    try:
        meta = get_hf_file_metadata(hf_hub_url(variant.repo, name))
    except HfHubHTTPError as e:
        raise WeightsError(f"{variant.repo}/{name}: the hub refused it ({e.response.status_code}); "
                           "a gated or private repository needs HF_TOKEN") from None
    except Exception as e:  # network failures come in many types (httpx, OSError, socket)
        raise WeightsError(f"cannot reach the Hugging Face hub ({constants.ENDPOINT}): {e.__class__.__name__}; "
                           + how_to_fetch(variant)) from None
    etag = (meta.etag or "").lower()
    return Remote(meta.size or variant.size, variant.sha256 or (etag if SHA256.match(etag) else None))


def check_disk(needed: int, where: Path) -> None:
    free = shutil.disk_usage(nearest_existing(where)).free
    if needed + DISK_MARGIN > free:
        raise WeightsError(f"not enough disk for the weights: {needed / GIB:.1f} GiB needed (and 1 GiB spare), "
                           f"{free / GIB:.1f} GiB free at {nearest_existing(where)}; free some room or set HF_HOME "
                           "to a larger disk")


def fetch(variant: Variant, confirm: Callable[[str], bool], log: Callable[[str], None]) -> list[Path]:
    """The variant's files, from the cache or downloaded (after `confirm`) and checked."""
    have = cached(variant)
    if have:
        return have
    if offline():
        raise WeightsError(f"the weights are not here and HF_HUB_OFFLINE is set: {how_to_fetch(variant)}")
    remotes = {name: remote(variant, name) for name in variant.files}
    size = sum(r.size for r in remotes.values()) if remotes else variant.size
    check_disk(size, cache_dir())
    if not confirm(f"download {size / 1e9:.1f} GB of {variant.quant} weights from {variant.repo} into {cache_dir()}?"):
        raise HeronError("nothing downloaded; `heron serve --dry-run` shows the plan, --yes answers yes", 1)
    if not variant.files:
        log(f"downloading {variant.repo} (the whole repository, for vLLM)")
        return [Path(_download(lambda: snapshot_download(variant.repo), variant))]
    paths = []
    for name, info in remotes.items():
        log(f"downloading {variant.repo}/{name} ({info.size / 1e9:.2f} GB); an interrupted download resumes")
        path = Path(_download(lambda: hf_hub_download(variant.repo, name), variant))
        verify(path, info.sha256, log)
        paths.append(path)
    return paths


def _download(call: Callable[[], str], variant: Variant) -> str:
    try:
        return call()
    except HfHubHTTPError as e:
        raise WeightsError(f"{variant.repo}: the download failed ({e}); run `heron serve` again to resume") from None
    except (OSError, ValueError) as e:
        raise WeightsError(f"{variant.repo}: the download failed ({e}); run `heron serve` again to resume") from None
    except Exception as e:  # httpx's transport errors
        raise WeightsError(f"{variant.repo}: the download broke off ({e.__class__.__name__}); "
                           "run `heron serve` again: it resumes where it stopped") from None


def verify(path: Path, expected: str | None, log: Callable[[str], None]) -> None:
    """The file's sha256 must be the expected one; a wrong file is removed from the cache."""
    if expected is None:
        log(f"{path.name}: no sha256 is known for it; its size was checked")
        return
    digest = sha256_of(path)
    if digest != expected:
        blob = path.resolve()
        path.unlink(missing_ok=True)
        blob.unlink(missing_ok=True)
        raise WeightsError(f"{path.name}: sha256 {digest} is not the expected {expected}; the file was removed "
                           "from the cache (run `heron serve` again to fetch it anew)")
    log(f"{path.name}: sha256 {digest} checked")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

