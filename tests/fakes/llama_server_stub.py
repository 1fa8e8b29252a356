"""Stands in for llama-server where only its process matters (start, health, stop): records its
arguments, answers /health and /v1/models on the --port it is given, exits on SIGTERM."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"status": "ok"} if self.path == "/health" else {"data": [{"id": "stub"}]}).encode()
        self.send_response(200 if self.path in ("/health", "/v1/models") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    record, *args = sys.argv[1:]  # the wrapper script names where to record the arguments
    Path(record).write_text(" ".join(args))
    port = int(args[args.index("--port") + 1])
    print(f"stub llama-server listening on {port}", flush=True)
    HTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()
