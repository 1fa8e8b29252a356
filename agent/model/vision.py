"""Whether the server takes images: asked once, the first time an image is to be sent.

Servers say so in their own ways: llama-server's /props lists `modalities.vision` (true when an
mmproj file is loaded), Ollama's /api/show lists `vision` among the model's capabilities, and LM
Studio calls such a model a `vlm`. vLLM, SGLang and others say nothing, so one tiny request with a
one-pixel image asks them: a text-only model refuses it.
"""

from __future__ import annotations

import json
import urllib.request

from agent.model.http import Http

# A 1x1 white PNG: the smallest image every vision encoder takes.
PIXEL = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC")


def takes_images(base_url: str, kind: str, model: str, api_key: str, timeout: float = 60.0) -> bool:
    http = Http(api_key, timeout)
    root = base_url.rstrip("/").removesuffix("/v1")
    if kind == "llama-server":
        props = http.get_or_none(f"{root}/props") or {}
        return bool((props.get("modalities") or {}).get("vision"))
    if kind == "ollama":
        show = http.post_or_none(f"{root}/api/show", {"model": model}) or {}
        return "vision" in (show.get("capabilities") or [])
    if kind == "lmstudio":
        info = http.get_or_none(f"{root}/api/v0/models/{model}") or {}
        return info.get("type") == "vlm"
    return _probe(base_url.rstrip("/"), model, api_key, timeout)


def _probe(base_url: str, model: str, api_key: str, timeout: float) -> bool:
    body = {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "."}, {"type": "image_url", "image_url": {"url": PIXEL}}]}]}
    request = urllib.request.Request(f"{base_url}/chat/completions", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return True
    except OSError:  # a refusal (HTTPError) or no answer: send no images rather than break the request
        return False
