"""JSON over HTTP to a model server's own routes (/props, /api/show, …), with its key and one timeout."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from agent.errors import ServerError


@dataclass(frozen=True)
class Http:
    """JSON over HTTP with the server's key and one timeout."""

    api_key: str
    timeout: float

    def get(self, url: str) -> Any:
        """OSError when nothing answers, ServerError when the answer is an error or not JSON."""
        return self._fetch(urllib.request.Request(url, headers=self._headers()))

    def get_or_none(self, url: str) -> Any:
        try:
            return self.get(url)
        except (OSError, ServerError):
            return None

    def post_or_none(self, url: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={**self._headers(), "Content-Type": "application/json"})
        try:
            return self._fetch(request)
        except (OSError, ServerError):
            return None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}

    def _fetch(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data = response.read()
        except urllib.error.HTTPError as e:
            raise ServerError(f"HTTP {e.code}") from None
        except urllib.error.URLError as e:
            raise OSError(str(e.reason)) from None
        try:
            return json.loads(data)
        except ValueError:
            raise ServerError("the answer is not JSON") from None
