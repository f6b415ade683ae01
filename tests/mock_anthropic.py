"""A standard-library mock of Anthropic's Messages API (``POST /v1/messages``, JSON and SSE), the upstream
of Brutor's Anthropic end-to-end tests.

Like ``mock_openai`` it shares nothing with the gateway's stack: ``http.server`` with keep-alive,
hand-written chunked encoding, ``json``. Every request is checked the way Anthropic would: ``x-api-key``
and ``anthropic-version`` headers, the body validated against the ``anthropic`` SDK's own
``MessageCreateParams`` types (unknown keys included), roles alternating. The generic plumbing
(``MockHandlerBase``, ``MockServer``, ``MockHandle``) is reused by ``mock_bedrock``.

Usage::

    mock = MockAnthropic().start()
    mock.base_url        # "http://127.0.0.1:<port>" (the gateway appends /v1/messages)
    mock.requests()      # method, path, headers, body of each request
    mock.stop()

Behaviour by model name:

``claude-mock``            normal answers (the default); with tools (and tool_choice not none) a short
                           text and a ``tool_use`` of the first (or forced) tool; after a tool result,
                           ``Tool said: <result>``
``claude-overloaded``      529 ``overloaded_error``
``claude-rate-limited``    429 ``rate_limit_error`` with ``retry-after``
``claude-error-first``     streams: 200, ``message_start``, then an ``error`` event (overloaded)
``claude-error-midstream`` streams: 3 text deltas, then an ``error`` event
``claude-die-midstream``   streams: 3 text deltas, then the connection drops
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pydantic
from anthropic.types import message_create_params
from mock_openai import count_words, sample_from_schema, split_pieces

API_KEY = "sk-ant-mock-upstream-9d2c7b"
ANTHROPIC_VERSION = "2023-06-01"
RETRY_AFTER_SECONDS = "7"
MIDSTREAM_DELTAS = 3
TOOL_USE_ID = "toolu_mock_0001"
TOOL_PREAMBLE = "Let me check."

_PARAMS = pydantic.TypeAdapter(message_create_params.MessageCreateParams)


def materialize(value: Any) -> Any:
    """A validated value with the SDK's lazily validated iterables expanded (which validates them)."""
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list | tuple | Iterator):
        return [materialize(v) for v in value]
    return value


# Sampling parameters the API still takes for the models that support them, but which the SDK
# (2.x) no longer lists in MessageCreateParams (newer models refuse ``temperature``).
SAMPLING = ("temperature", "top_p", "top_k")


def validate_params(body: dict[str, Any]) -> str | None:
    """None if ``body`` is a valid ``MessageCreateParams`` with no unknown keys (``SAMPLING`` aside, which
    must be numbers), else the problem."""
    for name in SAMPLING:
        if name in body and (isinstance(body[name], bool) or not isinstance(body[name], int | float)):
            return f"{name}: must be a number"
    body = {k: v for k, v in body.items() if k not in SAMPLING}
    try:
        checked = materialize(_PARAMS.validate_python(body))
    except pydantic.ValidationError as exc:
        return str(exc).splitlines()[0] + ": " + str(exc.errors()[0])
    if checked != body:
        return "body has keys or values the Messages API does not define"
    return None


def block_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    texts = []
    for block in content or []:
        if block.get("type") == "text":
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts.extend(block_texts(block.get("content")))
    return texts


def input_tokens(body: dict[str, Any]) -> int:
    system = body.get("system")
    words = sum(count_words(t) for t in block_texts(system)) if system else 0
    return words + sum(count_words(t) for m in body["messages"] for t in block_texts(m["content"]))


def answer_blocks(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and stop reason the mock answers ``body`` with."""
    last = body["messages"][-1]
    content = last["content"]
    results = [b for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []
    if results:
        said = " ".join(block_texts(results[0].get("content")))
        return [{"type": "text", "text": f"Tool said: {said}"}], "end_turn"
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if tools and choice["type"] != "none":
        tool = next((t for t in tools if t["name"] == choice.get("name")), tools[0])
        use = {
            "type": "tool_use",
            "id": TOOL_USE_ID,
            "name": tool["name"],
            "input": sample_from_schema(tool["input_schema"]),
        }
        return [{"type": "text", "text": TOOL_PREAMBLE}, use], "tool_use"
    said = " ".join(block_texts(content))
    return [{"type": "text", "text": f"Mock reply to: {said}"}], "end_turn"


def output_tokens(blocks: list[dict[str, Any]]) -> int:
    return sum(
        count_words(b["text"]) if b["type"] == "text" else len(json.dumps(b["input"])) // 4 for b in blocks
    )


def usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "input_tokens": input_tokens(body),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens(blocks),
    }


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock"}


# ------------------------------------------------------------------------------ generic plumbing


class MockServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.recorded: list[dict[str, Any]] = []
        self.streams: list[dict[str, Any]] = []
        self.ids = 0
        self.conns: set[socket.socket] = set()
        # Canned answers for ReplayHandler: (status, headers, body pieces; a final None drops the line).
        self.replies: list[tuple[int, dict[str, str], list[bytes | None]]] = []

    def next_id(self) -> int:
        with self.lock:
            self.ids += 1
            return self.ids

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class MockHandlerBase(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MockServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.conns.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.lock:
                self.server.conns.discard(self.connection)

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def record(self, raw: bytes) -> Any:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self.server.lock:
            self.server.recorded.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body,
                    "raw_body": raw,
                }
            )
        return body

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def start_chunked(self, content_type: str) -> dict[str, Any]:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        rec = {"open": True, "ended": None}
        with self.server.lock:
            self.server.streams.append(rec)
        return rec

    def write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
        time.sleep(0.001)

    def end_chunked(self, rec: dict[str, Any]) -> None:
        self.write_chunk(b"")
        rec.update(open=False, ended="done")

    def abort(self, rec: dict[str, Any]) -> None:
        """Drop the connection in the middle of the body (no chunked terminator)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        rec.update(open=False, ended="died")


class MockHandle:
    """Runs a ``MockServer`` in a daemon thread on a free port."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = MockServer(handler)
        self.port: int = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Any:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        with self.server.lock:
            conns = list(self.server.conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def requests(self) -> list[dict[str, Any]]:
        with self.server.lock:
            return list(self.server.recorded)

    def streams(self) -> list[dict[str, Any]]:
        with self.server.lock:
            return [dict(s) for s in self.server.streams]

    def reset(self) -> None:
        with self.server.lock:
            self.server.recorded.clear()
            self.server.streams = [s for s in self.server.streams if s["open"]]


# ------------------------------------------------------------------------------ the Anthropic API


class AnthropicHandler(MockHandlerBase):
    server_version = "MockAnthropic/1.0"

    def do_POST(self) -> None:
        raw = self.read_body()
        body = self.record(raw)
        if self.path != "/v1/messages":
            self.send_json(404, anthropic_error("not_found_error", f"Not found: {self.path}"))
            return
        if self.headers.get("x-api-key") != API_KEY:
            self.send_json(401, anthropic_error("authentication_error", "invalid x-api-key"))
            return
        if self.headers.get("anthropic-version") != ANTHROPIC_VERSION:
            self.send_json(400, anthropic_error("invalid_request_error", "anthropic-version: bad or missing"))
            return
        problem = "body is not a JSON object" if not isinstance(body, dict) else validate_params(body)
        if problem is None:
            roles = [m["role"] for m in body["messages"]]
            if roles[0] != "user" or any(a == b for a, b in itertools.pairwise(roles)):
                problem = f"messages: roles must alternate starting with user, got {roles}"
        if problem is not None:
            self.send_json(400, anthropic_error("invalid_request_error", problem))
            return
        model = body["model"]
        if model == "claude-overloaded":
            self.send_json(529, anthropic_error("overloaded_error", "Overloaded"))
            return
        if model == "claude-rate-limited":
            self.send_json(
                429,
                anthropic_error("rate_limit_error", "Number of requests has exceeded your rate limit."),
                {"retry-after": RETRY_AFTER_SECONDS},
            )
            return
        blocks, stop = answer_blocks(body)
        message = {
            "id": f"msg_mock{self.server.next_id():04d}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": blocks,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage(body, blocks),
        }
        try:
            if body.get("stream"):
                self._stream(message)
            else:
                self.send_json(200, message)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _event(self, name: str, data: dict[str, Any]) -> None:
        self.write_chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    def _stream(self, message: dict[str, Any]) -> None:
        model = message["model"]
        rec = self.start_chunked("text/event-stream")
        start = {**message, "content": [], "stop_reason": None}
        start["usage"] = {**message["usage"], "output_tokens": 1}
        self._event("message_start", {"type": "message_start", "message": start})
        if model == "claude-error-first":
            self._event("error", anthropic_error("overloaded_error", "Overloaded"))
            self.end_chunked(rec)
            return
        self._event("ping", {"type": "ping"})
        deltas = 0
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                self._event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                for piece in split_pieces(block["text"]):
                    delta = {"type": "text_delta", "text": piece}
                    self._event(
                        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                    )
                    deltas += 1
                    if deltas == MIDSTREAM_DELTAS and model == "claude-die-midstream":
                        self.abort(rec)
                        return
                    if deltas == MIDSTREAM_DELTAS and model == "claude-error-midstream":
                        self._event("error", anthropic_error("overloaded_error", "Overloaded"))
                        self.end_chunked(rec)
                        return
            else:
                use = {**block, "input": {}}
                self._event(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": use},
                )
                args = json.dumps(block["input"])
                for i in range(0, len(args), 7):
                    delta = {"type": "input_json_delta", "partial_json": args[i : i + 7]}
                    self._event(
                        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
                    )
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
        self._event("message_stop", {"type": "message_stop"})
        self.end_chunked(rec)


class ReplayHandler(MockHandlerBase):
    """Records each request and answers with the next canned reply (``Replay.add``)."""

    def do_POST(self) -> None:
        self.record(self.read_body())
        with self.server.lock:
            status, headers, pieces = self.server.replies.pop(0)
        if len(pieces) == 1 and pieces[0] is not None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(pieces[0])))
            self.end_headers()
            self.wfile.write(pieces[0])
            self.wfile.flush()
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        rec = {"open": True, "ended": None}
        for piece in pieces:
            if piece is None:
                self.abort(rec)
                return
            self.write_chunk(piece)
        self.end_chunked(rec)


class Replay(MockHandle):
    """A recording server answering with canned replies, for provider tests below the gateway."""

    def __init__(self) -> None:
        super().__init__(ReplayHandler)

    def start(self) -> Replay:
        super().start()
        return self

    def add(self, status: int, headers: dict[str, str], *pieces: bytes | None) -> None:
        """One reply: a single piece is sent with a Content-Length, several as HTTP chunks."""
        with self.server.lock:
            self.server.replies.append((status, headers, list(pieces)))


class MockAnthropic(MockHandle):
    def __init__(self) -> None:
        super().__init__(AnthropicHandler)

    def start(self) -> MockAnthropic:
        super().start()
        return self
