"""A local stand-in for the Hugging Face hub, reached through HF_ENDPOINT: the two calls
huggingface_hub's hf_hub_download makes (read from its file_download.py) — HEAD on
/{repo}/resolve/{revision}/{file} for the commit, ETag (the LFS sha256) and size, then GET,
with a Range header when it resumes a partial file.

It can cut the first GET short (the connection drops mid-body) and serve bytes that do not
match the sha256 it announces.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class FakeHub:
    files: dict[str, bytes]  # "org/repo/file.gguf" -> content
    cut_first_get_at: int | None = None  # bytes sent before the first GET's connection drops
    corrupt: bool = False  # serve flipped bytes under the true sha256
    announced_size: int | None = None  # a size to announce instead of the real one
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, Range
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def gets(self) -> list[str | None]:
        """The Range header of each GET of a file (None: from the start)."""
        return [r for m, path, r in self.requests if m == "GET" and "/resolve/" in path]

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        self.requests.append((handler.command, handler.path, handler.headers.get("Range")))
        # Other calls huggingface_hub makes on the side (e.g. /api/... lookups) find nothing here.
        match = re.fullmatch(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", handler.path)
        content = self.files.get(f"{match['repo']}/{match['file']}") if match else None
        if content is None:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        sha = hashlib.sha256(content).hexdigest()
        served = bytes([content[0] ^ 0xFF]) + content[1:] if self.corrupt else content
        start = 0
        if body and (wanted := handler.headers.get("Range")):
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted)[1])  # type: ignore[index]
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", COMMIT)
        handler.send_header("ETag", f'"{sha}"')
        handler.send_header("X-Linked-Etag", f'"{sha}"')
        handler.send_header("X-Linked-Size", str(self.announced_size or len(content)))
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(len(content) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        handler.end_headers()
        if not body:
            return
        payload = served[start:]
        if self.cut_first_get_at is not None and len(self.gets()) == 1:
            handler.wfile.write(payload[:self.cut_first_get_at])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(2)  # the download drops mid-body
            return
        handler.wfile.write(payload)
