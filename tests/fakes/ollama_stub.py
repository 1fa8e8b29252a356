"""Stands in for the `ollama` command: `serve` answers /api/version on OLLAMA_HOST and records its
environment; `create NAME -f FILE` records the Modelfile it was given."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"version": "0.0.0-stub"}).encode()
        self.send_response(200 if self.path == "/api/version" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    record, command, *args = sys.argv[1:]  # the wrapper script names the record directory
    out = Path(record)
    if command == "serve":
        keys = ("OLLAMA_HOST", "OLLAMA_CONTEXT_LENGTH", "OLLAMA_KV_CACHE_TYPE", "OLLAMA_FLASH_ATTENTION")
        (out / "serve.env").write_text(json.dumps({k: os.environ.get(k) for k in keys}))
        host, port = os.environ["OLLAMA_HOST"].rsplit(":", 1)
        HTTPServer((host, int(port)), Handler).serve_forever()
    elif command == "create":
        (out / "create.args").write_text(" ".join(args))
        (out / "Modelfile").write_text(Path(args[args.index("-f") + 1]).read_text())
    else:
        sys.exit(f"stub ollama: {command} is not stubbed")


if __name__ == "__main__":
    main()
