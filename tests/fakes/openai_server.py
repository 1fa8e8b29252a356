"""A real OpenAI-compatible HTTP server on 127.0.0.1, scripted per test.

Each POST /v1/chat/completions takes the next Reply from the script and answers it, streamed (SSE,
in uneven chunks) or whole, as the request asks. Every request body is recorded. A request the
script did not expect gets HTTP 500 and is recorded as a surprise, which the test fixture turns
into a failure; so are replies left unused at the end.

`kind` makes it pose as a particular server: vLLM, SGLang, llama-server, Ollama or LM Studio, with
that server's /v1/models entries and its own routes (/props, /api/version, /api/show,
/api/v0/models/ID) reporting `context_window`. With `rejects_tools`, a request carrying `tools` is
refused with that server's own error, without using a reply; posing as llama-server, so is one whose
history holds call arguments that are not JSON.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator


@dataclass
class Call:
    name: str
    arguments: dict[str, Any] | str  # a str is sent verbatim (for malformed-argument tests)
    id: str | None = None  # the call's id; a fresh one when unset

    def arguments_text(self) -> str:
        return self.arguments if isinstance(self.arguments, str) else json.dumps(self.arguments)


def call(name: str, *, id: str | None = None, **arguments: Any) -> Call:
    return Call(name, arguments, id)


@dataclass
class Reply:
    text: str = ""
    reasoning: str = ""
    tool_calls: list[Call] = field(default_factory=list)
    finish_reason: str | None = None
    # Which field carries reasoning: vLLM's "reasoning_content" or the newer "reasoning".
    reasoning_field: str = "reasoning_content"
    prompt_tokens: int = 100
    completion_tokens: int = 20
    cached_tokens: int | None = None
    # Seconds to wait between streamed chunks, to make a slow server.
    chunk_delay: float = 0.0
    # An HTTP error instead of an answer: (status, message), with `headers` (e.g. Retry-After).
    error: tuple[int, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection after this many streamed chunks, mid-answer.
    cut_after_chunks: int | None = None
    # After this many streamed chunks: end the stream cleanly with [DONE] but no finish_reason
    # ("done"), send a chunk that is not JSON ("bad_json"), or go silent for `stall_seconds`.
    fault_after_chunks: int | None = None
    fault: str = ""
    stall_seconds: float = 0.0
    # End the stream, after the answer's text, with an SSE error event carrying this message, as
    # llama-server does when it cannot finish an answer (e.g. its tool-call parser fails).
    stream_error: str | None = None
    # Extra top-level fields on the final chunk or whole response (llama-server's "timings").
    extra: dict[str, Any] = field(default_factory=dict)


def tool_reply(*calls: Call, text: str = "") -> Reply:
    return Reply(text=text, tool_calls=list(calls))


KINDS = ("openai", "vllm", "sglang", "llama-server", "ollama", "lmstudio")

# The status and wording each server answers a request with `tools` it cannot take.
TOOLS_REJECTED = {
    "llama-server": (500, "tools param requires --jinja flag"),
    "vllm": (400, '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'),
    "ollama": (400, "registry.ollama.ai/library/qwen3.6:27b does not support tools"),
}


def kind_models(kind: str, window: int) -> list[dict[str, Any]]:
    """The /v1/models entries each server kind lists."""
    if kind in ("vllm", "sglang"):
        name = "Qwen/Qwen3.6-27B"
        return [{"id": name, "object": "model", "created": 0, "owned_by": kind, "root": name,
                 "parent": None, "max_model_len": window}]
    if kind == "llama-server":
        return [{"id": "Qwen3.6-27B-Q4_K_M.gguf", "object": "model", "created": 0, "owned_by": "llamacpp",
                 "meta": {"vocab_type": 2, "n_vocab": 248320, "n_ctx_train": 262144}}]
    if kind == "ollama":
        return [{"id": "qwen3.6:27b", "object": "model", "created": 0, "owned_by": "library"}]
    if kind == "lmstudio":
        return [{"id": "qwen3.6-27b", "object": "model", "owned_by": "organization_owner"}]
    return [{"id": "fake-model", "object": "model"}]


class FakeOpenAIServer:
    def __init__(self, models: list[dict[str, Any]] | None = None, chunk_size: int = 7, port: int = 0,
                 kind: str = "openai", context_window: int = 262144, rejects_tools: bool = False,
                 vision: bool = False) -> None:
        self.kind = kind
        # Whether the model takes images: said in the kind's own routes, and a request with an
        # image part is refused without it, as a text-only model's server does.
        self.vision = vision
        self.context_window = context_window
        self.rejects_tools = rejects_tools
        self.models = models if models is not None else kind_models(kind, context_window)
        self.chunk_size = chunk_size
        self.chunk_seed: int | None = None  # random piece sizes from this seed, when set
        self.replies: deque[Reply] = deque()
        # Replies for conversations whose first user message contains a key: concurrent
        # conversations (batch workers) each follow their own script.
        self.keyed: dict[str, deque[Reply]] = {}
        self.requests: list[dict[str, Any]] = []
        self.surprises: list[str] = []
        self.lock = threading.Lock()
        self.got_request = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *replies: Reply) -> "FakeOpenAIServer":
        with self.lock:
            self.replies.extend(replies)
        return self

    def script_for(self, key: str, *replies: Reply) -> "FakeOpenAIServer":
        with self.lock:
            self.keyed.setdefault(key, deque()).extend(replies)
        return self

    @property
    def unused(self) -> int:
        return len(self.replies) + sum(len(q) for q in self.keyed.values())

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests if r["path"].endswith("/chat/completions")]

    def start(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------

    def _next_reply(self, body: dict[str, Any]) -> Reply | None:
        with self.lock:
            self.requests.append({"path": "/v1/chat/completions", "body": body})
            self.got_request.set()
            first_user = next((str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user"), "")
            for key, queue in self.keyed.items():
                if key in first_user:
                    if queue:
                        return queue.popleft()
                    break
            else:
                if self.replies:
                    return self.replies.popleft()
            self.surprises.append(f"unexpected chat request #{len(self.chat_requests)}")
            return None

    def _refused_history(self, body: dict[str, Any]) -> str | None:
        """llama-server parses the arguments of the calls in the history and refuses the request
        when they are not JSON; its words, or None."""
        if self.kind != "llama-server":
            return None
        for message in body.get("messages") or []:
            for c in message.get("tool_calls") or []:
                try:
                    json.loads(c["function"]["arguments"])
                except json.JSONDecodeError as e:
                    return f"Failed to parse tool call arguments as JSON: [json.exception.parse_error.101] {e}"
        return None

    def _native_get(self, path: str) -> dict[str, Any] | None:
        """The kind's own GET routes, beside the OpenAI ones."""
        if self.kind == "llama-server" and path == "/props":
            return {"default_generation_settings": {"id": 0, "n_ctx": self.context_window, "params": {}},
                    "total_slots": 1, "model_path": "/models/Qwen3.6-27B-Q4_K_M.gguf",
                    "chat_template": "{%- for message in messages %}...", "build_info": "b7000-fake",
                    "modalities": {"vision": self.vision, "audio": False}}
        if self.kind == "ollama" and path == "/api/version":
            return {"version": "0.12.6"}
        if self.kind == "lmstudio" and path.startswith("/api/v0/models/"):
            return {"id": self.models[0]["id"], "object": "model", "type": "vlm" if self.vision else "llm",
                    "state": "loaded",
                    "max_context_length": 262144, "loaded_context_length": self.context_window}
        return None

    def _ollama_show(self) -> dict[str, Any]:
        return {"modelfile": "FROM qwen3.6:27b", "parameters": "temperature 0.6\ntop_p 0.95",
                "template": "{{ .Prompt }}", "details": {"family": "qwen35", "parameter_size": "27B"},
                "model_info": {"general.architecture": "qwen35", "qwen35.context_length": self.context_window},
                "capabilities": ["completion", "tools", "thinking", *(["vision"] if self.vision else [])]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.requests.append({"path": self.path, "body": None})
                native = server._native_get(self.path)
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": server.models})
                elif native is not None:
                    self._json(200, native)
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/api/show" and server.kind == "ollama":
                    with server.lock:
                        server.requests.append({"path": self.path, "body": body})
                    self._json(200, server._ollama_show())
                    return
                if not self.path.endswith("/chat/completions"):
                    self._json(404, {"error": {"message": f"no route {self.path}"}})
                    return
                if server.rejects_tools and body.get("tools"):
                    with server.lock:
                        server.requests.append({"path": "/v1/chat/completions", "body": body})
                    status, message = TOOLS_REJECTED.get(server.kind, (400, "tools are not supported"))
                    self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})
                    return
                probe = body.get("max_tokens") == 1
                if _has_image(body) and (probe or not server.vision):
                    with server.lock:  # an image probe is not a chat turn of the script
                        server.requests.append({"path": "/v1/chat/completions" + " (image probe)" * probe, "body": body})
                    if server.vision:
                        self._json(200, whole_response(Reply(text="."), body.get("model", "")))
                    else:
                        self._json(400, {"error": {"message": f"{body.get('model')} is not a multimodal model",
                                                   "type": "BadRequestError", "code": 400}})
                    return
                refusal = server._refused_history(body)
                if refusal:
                    with server.lock:
                        server.requests.append({"path": "/v1/chat/completions", "body": body})
                    self._json(500, {"error": {"message": refusal, "type": "server_error", "code": 500}})
                    return
                reply = server._next_reply(body)
                if reply is None:
                    self._json(500, {"error": {"message": "fake server: the script has no reply left"}})
                elif reply.error:
                    status, message = reply.error
                    self._json(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}},
                               reply.headers)
                elif body.get("stream"):
                    self._stream(reply, body)
                else:
                    self._json(200, whole_response(reply, body.get("model", "")))

            def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: Reply, body: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                chunks = stream_chunks(reply, body.get("model", ""), server.chunk_size,
                                       bool((body.get("stream_options") or {}).get("include_usage")),
                                       server.chunk_seed)
                try:
                    for n, chunk in enumerate(chunks):
                        if reply.cut_after_chunks is not None and n >= reply.cut_after_chunks:
                            return  # drop the connection mid-answer
                        if reply.fault_after_chunks is not None and n >= reply.fault_after_chunks:
                            self._fault(reply)
                            return
                        if reply.stream_error is not None and not chunk["choices"][0]["delta"]:
                            error = {"code": 500, "message": reply.stream_error, "type": "server_error"}
                            self.wfile.write(f"data: {json.dumps({'error': error})}\n\n".encode())
                            return  # llama-server ends the stream after the error event
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _fault(self, reply: Reply) -> None:
                if reply.fault == "done":
                    self.wfile.write(b"data: [DONE]\n\n")
                elif reply.fault == "bad_json":
                    self.wfile.write(b'data: {"id": "chatcmpl-x", "choices": [{"delta": {"content": "tru\n\n')
                elif reply.fault == "stall":
                    self.wfile.flush()
                    time.sleep(reply.stall_seconds)
                else:
                    raise ValueError(f"fake server: no fault named {reply.fault!r}")
                self.wfile.flush()

        return Handler


_ids = itertools.count(1)


def _has_image(body: dict[str, Any]) -> bool:
    return any(isinstance(m.get("content"), list) and any(p.get("type") == "image_url" for p in m["content"])
               for m in body.get("messages") or [])


def _finish_reason(reply: Reply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _usage(reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    if reply.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    return usage


def whole_response(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.reasoning:
        message[reply.reasoning_field] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id or f"call_{next(_ids)}", "type": "function",
             "function": {"name": c.name, "arguments": c.arguments_text()}}
            for c in reply.tool_calls
        ]
    return {
        "id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply)}],
        "usage": _usage(reply), **reply.extra,
    }


def _pieces(text: str, size: int, seed: int | None = None) -> list[str]:
    # Uneven pieces: sizes cycle through size-2 .. size+2, so tags and escapes fall across edges;
    # with a seed, random sizes from 1 to 2*size.
    rng = random.Random(seed)
    widths: Iterator[int] = (itertools.cycle([max(1, size - 2), size, size + 2, 1, size + 1] if size > 1 else [1])
                             if seed is None
                             else iter(lambda: rng.randint(1, 2 * size), 0))
    out, i = [], 0
    while i < len(text):
        w = next(widths)
        out.append(text[i : i + w])
        i += w
    return out


def stream_chunks(reply: Reply, model: str, size: int, include_usage: bool,
                  seed: int | None = None) -> list[dict[str, Any]]:
    rid = f"chatcmpl-{next(_ids)}"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": rid, "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({reply.reasoning_field: p}) for p in _pieces(reply.reasoning, size, seed)]
    chunks += [chunk({"content": p}) for p in _pieces(reply.text, size, seed)]
    for index, c in enumerate(reply.tool_calls):
        chunks.append(chunk({"tool_calls": [{"index": index, "id": c.id or f"call_{next(_ids)}", "type": "function",
                                             "function": {"name": c.name, "arguments": ""}}]}))
        chunks += [chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]})
                   for p in _pieces(c.arguments_text(), size)]
    chunks.append(chunk({}, _finish_reason(reply)))
    if include_usage:
        chunks.append({"id": rid, "object": "chat.completion.chunk", "created": 0, "model": model,
                       "choices": [], "usage": _usage(reply), **reply.extra})
    return chunks
