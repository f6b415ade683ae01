"""A standard-library mock of OpenAI's HTTP API, used as the upstream in Brutor's end-to-end tests.

It deliberately shares nothing with the gateway's stack: ``http.server`` with HTTP/1.1 keep-alive,
hand-written chunked transfer encoding for streams, and ``json`` from the standard library.

Usage as a script::

    python tests/mock_openai.py --port 0 --api-key sk-upstream-secret-7f3a9c2e41
    # prints "READY <port>" once listening on 127.0.0.1; exits on SIGTERM

Usage in-process::

    mock = MockOpenAI().start()
    mock.base_url            # "http://127.0.0.1:<port>/v1"
    mock.requests()          # every request received (method, path, headers, body)
    mock.streams()           # one record per streamed response (open/closed, how it ended)
    mock.stop()

Behaviour is selected by the *upstream* model name in the request body:

``mock-gpt``               normal answers (also the default for unknown names)
``mock-slow-first-byte``   sleeps ``slow_first_byte`` seconds before sending anything
``mock-die-midstream``     streams 3 content chunks then drops the connection (no [DONE])
``mock-429``               429 rate_limit_exceeded with a ``retry-after`` header
``mock-500``               500 server_error
``mock-no-usage``          streams never carry a usage chunk, even when include_usage is asked
``mock-slow-stream``       100 content chunks, one every 0.2 s (for disconnect tests)
``mock-embed-folded``      embeddings of the text lowercased without punctuation (``fold``)

Helper functions (``chat_reply``, ``count_words``, ``mock_embedding``, ``sample_from_schema``) let
tests compute the exact expected output.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import select
import signal
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_API_KEY = "sk-upstream-secret-7f3a9c2e41"
MOCK_FINGERPRINT = "fp_mock_0001"
RETRY_AFTER_SECONDS = "7"
DEFAULT_EMBED_DIMS = 8
SLOW_STREAM_CHUNKS = 100
SLOW_STREAM_INTERVAL = 0.2
DIE_AFTER_CHUNKS = 3
STREAM_CHUNK_DELAY = 0.002


# --------------------------------------------------------------------------------------------------
# deterministic content helpers (importable by tests)
# --------------------------------------------------------------------------------------------------


def message_text(message: dict[str, Any]) -> str:
    """Text of one chat message (string content or a list of text parts)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(parts)
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""


def chat_reply(messages: list[dict[str, Any]]) -> str:
    """The assistant content the mock answers for these messages."""
    return f"Mock reply to: {last_user_text(messages)}"


def count_words(text: str) -> int:
    return len(text.split())


def prompt_token_count(messages: list[dict[str, Any]]) -> int:
    return sum(count_words(message_text(m)) for m in messages if isinstance(m, dict))


def split_pieces(text: str) -> list[str]:
    """Split on spaces, keeping the space as a prefix on every piece but the first."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


_SCALAR_SAMPLES: dict[str, Any] = {
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "null": None,
    "string": "mock",
}


def sample_from_schema(schema: Any) -> Any:
    """A deterministic value that validates against a (simple) JSON schema."""
    if not isinstance(schema, dict):
        return "mock"
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for combo in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(combo), list) and schema[combo]:
            return sample_from_schema(schema[combo][0])
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), "null")
    if typ == "object" or (typ is None and "properties" in schema):
        props = schema.get("properties") or {}
        return {name: sample_from_schema(sub) for name, sub in props.items()}
    if typ == "array":
        return [sample_from_schema(schema.get("items", {}))]
    return _SCALAR_SAMPLES.get(str(typ), "mock")


def mock_embedding(text: str, dims: int = DEFAULT_EMBED_DIMS) -> list[float]:
    """Deterministic vector in [-1, 1); exactly representable as float32."""
    out: list[float] = []
    counter = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        for i in range(0, len(digest), 2):
            if len(out) == dims:
                break
            value = int.from_bytes(digest[i : i + 2], "big")
            out.append((value - 32768) / 32768.0)
        counter += 1
    return out


def fold(text: str) -> str:
    """What ``mock-embed-folded`` embeds: the words, lowercased, without punctuation (so questions that
    differ only in case and punctuation get the same vector: a semantic match, not an exact one)."""
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def _tool_call_arguments(tool: dict[str, Any]) -> str:
    params = (tool.get("function") or {}).get("parameters") or {}
    return json.dumps(sample_from_schema(params) if params else {}, separators=(",", ":"))


def _response_format_content(response_format: dict[str, Any]) -> str | None:
    kind = response_format.get("type")
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return json.dumps(sample_from_schema(schema))
    if kind == "json_object":
        return json.dumps({"answer": "mock"})
    return None


def _error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --------------------------------------------------------------------------------------------------
# state shared between the server threads and the tests
# --------------------------------------------------------------------------------------------------


class MockState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._streams: list[dict[str, Any]] = []
        self._seq = 0

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._requests.append(entry)

    def new_stream(self, model: str) -> dict[str, Any]:
        with self.lock:
            self._seq += 1
            rec = {
                "id": self._seq,
                "model": model,
                "open": True,
                "opened_at": time.monotonic(),
                "closed_at": None,
                "chunks_sent": 0,
                "ended": None,  # "done" | "client_closed" | "died"
            }
            self._streams.append(rec)
            return rec

    def close_stream(self, rec: dict[str, Any], how: str) -> None:
        with self.lock:
            if rec["open"]:
                rec["open"] = False
                rec["closed_at"] = time.monotonic()
                rec["ended"] = how

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self._requests]

    def streams(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(s) for s in self._streams]

    def reset(self) -> None:
        with self.lock:
            self._requests.clear()
            self._streams = [s for s in self._streams if s["open"]]


class _ClientGone(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# the HTTP handler
# --------------------------------------------------------------------------------------------------


class MockHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MockOpenAI/1.0"
    server: MockHTTPServer

    # silence the default stderr logging
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    # ---------------------------------------------------------------- plumbing

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = bytearray()
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until blank line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, obj: Any, extra_headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_event(self, obj: Any) -> None:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        self._write_chunk(f"data: {text}\n\n".encode())

    def _peer_closed(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds; True if the peer closed (or reset) the connection meanwhile."""
        sock = self.connection
        deadline = time.monotonic() + wait
        try:
            readable, _, _ = select.select([sock], [], [], wait)
            if not readable:
                return False
            if sock.recv(1, socket.MSG_PEEK) == b"":
                return True
        except OSError:
            return True
        # The peer sent bytes (e.g. a pipelined request): not a close; just wait out the interval.
        time.sleep(max(0.0, deadline - time.monotonic()))
        return False

    def _abort(self) -> None:
        """Drop the connection abruptly: FIN in the middle of the body (no chunked terminator)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # ---------------------------------------------------------------- dispatch

    def _record(self, body_bytes: bytes) -> dict[str, Any] | None:
        body: Any = None
        if body_bytes:
            try:
                body = json.loads(body_bytes)
            except ValueError:
                body = None
        self.server.state.record(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "raw_headers": list(self.headers.items()),
                "body": body,
                "raw_body": body_bytes.decode("utf-8", "replace"),
                "time": time.monotonic(),
            }
        )
        return body if isinstance(body, dict) else None

    def _authorized(self) -> bool:
        expected = f"Bearer {self.server.api_key}"
        if self.headers.get("Authorization") == expected:
            return True
        self._send_json(
            401,
            _error_body(
                "Incorrect API key provided. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            ),
        )
        return False

    def do_GET(self) -> None:
        if self.path == "/_mock/requests":
            self._send_json(200, self.server.state.requests())
            return
        if self.path == "/_mock/streams":
            self._send_json(200, self.server.state.streams())
            return
        self._record(b"")
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            created = 1700000000
            data = [
                {"id": name, "object": "model", "created": created, "owned_by": "mock-openai"}
                for name in ("mock-gpt", "mock-embed")
            ]
            self._send_json(200, {"object": "list", "data": data})
            return
        self._not_found()

    def do_POST(self) -> None:
        try:
            body_bytes = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if self.path == "/_mock/reset":
            self.server.state.reset()
            self._send_json(200, {"ok": True})
            return
        body = self._record(body_bytes)
        if not self._authorized():
            return
        if body is None:
            self._send_json(
                400,
                _error_body(
                    "We could not parse the JSON body of your request.", "invalid_request_error", None
                ),
            )
            return
        path = self.path.split("?")[0].rstrip("/")
        try:
            if path == "/v1/chat/completions":
                self._chat(body)
            elif path == "/v1/embeddings":
                self._embeddings(body)
            else:
                self._not_found()
        except (BrokenPipeError, ConnectionResetError, _ClientGone):
            self.close_connection = True

    def _not_found(self) -> None:
        self._send_json(
            404, _error_body(f"Invalid URL ({self.command} {self.path})", "invalid_request_error", None)
        )

    # ---------------------------------------------------------------- chat

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        messages = body.get("messages")
        if not isinstance(messages, list):
            self._send_json(
                400,
                _error_body("'messages' is a required property", "invalid_request_error", None, "messages"),
            )
            return

        if model == "mock-429":
            self._send_json(
                429,
                {
                    "error": {
                        "message": "Rate limit reached for mock-429 in organization org-mock on requests "
                        "per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 7s.",
                        "type": "requests",
                        "param": None,
                        "code": "rate_limit_exceeded",
                    }
                },
                {"retry-after": RETRY_AFTER_SECONDS, "x-ratelimit-limit-requests": "3"},
            )
            return
        if model == "mock-500":
            self._send_json(
                500,
                _error_body(
                    "The server had an error while processing your request. Sorry about that!",
                    "server_error",
                    None,
                ),
            )
            return
        if model == "mock-slow-first-byte" and self._peer_closed(self.server.slow_first_byte):
            # The gateway gave up before we answered: nothing to send.
            self.close_connection = True
            return

        if body.get("stream") is True:
            self._chat_stream(body, model, messages)
        else:
            self._chat_plain(body, model, messages)

    def _completion_parts(
        self, body: dict[str, Any], messages: list[dict[str, Any]]
    ) -> tuple[str | None, list[dict[str, Any]] | None, str]:
        tools = body.get("tools")
        if isinstance(tools, list) and tools and body.get("tool_choice") != "none":
            tool = tools[0]
            name = (tool.get("function") or {}).get("name", "tool")
            call = {
                "id": "call_mock_0001",
                "type": "function",
                "function": {"name": name, "arguments": _tool_call_arguments(tool)},
            }
            return None, [call], "tool_calls"
        rf = body.get("response_format")
        if isinstance(rf, dict):
            content = _response_format_content(rf)
            if content is not None:
                return content, None, "stop"
        return chat_reply(messages), None, "stop"

    def _usage(self, messages: list[dict[str, Any]], content: str | None, tool_calls: Any) -> dict[str, int]:
        prompt = prompt_token_count(messages)
        if content is not None:
            completion = count_words(content)
        else:
            completion = sum(count_words(c["function"]["arguments"]) + 1 for c in tool_calls or [])
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _chat_plain(self, body: dict[str, Any], model: str, messages: list[dict[str, Any]]) -> None:
        content, tool_calls, finish = self._completion_parts(body, messages)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        obj = {
            "id": f"chatcmpl-mock{self.server.next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": MOCK_FINGERPRINT,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": self._usage(messages, content, tool_calls),
        }
        if model == "mock-die-midstream":
            # Promise a body, send half of it, then drop the connection.
            payload = json.dumps(obj).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            self._abort()
            return
        self._send_json(200, obj)

    def _chat_stream(self, body: dict[str, Any], model: str, messages: list[dict[str, Any]]) -> None:
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
        if model == "mock-no-usage":
            include_usage = False
        content, tool_calls, finish = self._completion_parts(body, messages)
        cid = f"chatcmpl-mock{self.server.next_id()}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": MOCK_FINGERPRINT,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }

        deltas: list[dict[str, Any]] = []
        if tool_calls:
            call = tool_calls[0]
            args = call["function"]["arguments"]
            deltas.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ],
                }
            )
            step = max(1, len(args) // 3)
            for i in range(0, len(args), step):
                deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + step]}}]})
        else:
            assert content is not None
            deltas.append({"role": "assistant", "content": "", "refusal": None})
            if model == "mock-slow-stream":
                deltas.extend({"content": f"tick{i} "} for i in range(SLOW_STREAM_CHUNKS))
            else:
                deltas.extend({"content": piece} for piece in split_pieces(content))

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

        rec = self.server.state.new_stream(model)
        how = "client_closed"
        interval = SLOW_STREAM_INTERVAL if model == "mock-slow-stream" else STREAM_CHUNK_DELAY
        try:
            content_sent = 0
            for delta in deltas:
                self._send_event(chunk(delta))
                rec["chunks_sent"] += 1
                if "content" in delta and delta.get("content"):
                    content_sent += 1
                if model == "mock-die-midstream" and content_sent >= DIE_AFTER_CHUNKS:
                    how = "died"
                    self._abort()
                    return
                if self._peer_closed(interval):
                    raise _ClientGone
            self._send_event(chunk({}, finish))
            if include_usage:
                usage_chunk = chunk({})
                usage_chunk["choices"] = []
                usage_chunk["usage"] = self._usage(messages, content, tool_calls)
                self._send_event(usage_chunk)
            self._send_event("[DONE]")
            self._write_chunk(b"")  # chunked terminator: 0\r\n\r\n
            how = "done"
        finally:
            self.server.state.close_stream(rec, how)

    # ---------------------------------------------------------------- embeddings

    def _embeddings(self, body: dict[str, Any]) -> None:
        model = str(body.get("model", ""))
        raw = body.get("input")
        if isinstance(raw, str):
            inputs: list[str] = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
            inputs = list(raw)
        elif isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
            inputs = [" ".join(map(str, raw))]
        elif isinstance(raw, list) and raw and all(isinstance(x, list) for x in raw):
            inputs = [" ".join(map(str, x)) for x in raw]
        else:
            self._send_json(
                400, _error_body("'input' is a required property", "invalid_request_error", None, "input")
            )
            return
        dims = body.get("dimensions")
        dims = dims if isinstance(dims, int) and dims > 0 else DEFAULT_EMBED_DIMS
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vec = mock_embedding(fold(text) if model == "mock-embed-folded" else text, dims)
            emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(count_words(t) for t in inputs)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


class MockHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], api_key: str, slow_first_byte: float) -> None:
        super().__init__(addr, MockHandler)
        self.api_key = api_key
        self.slow_first_byte = slow_first_byte
        self.state = MockState()
        self._ids = 0
        self._id_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self.connections_opened = 0

    def next_id(self) -> int:
        with self._id_lock:
            self._ids += 1
            return self._ids

    def track(self, conn: socket.socket, opened: bool) -> None:
        with self._id_lock:
            if opened:
                self._conns.add(conn)
                self.connections_opened += 1
            else:
                self._conns.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, _ClientGone)):
            return
        super().handle_error(request, client_address)

    def open_connections(self) -> int:
        with self._id_lock:
            return len(self._conns)

    def drop_all_connections(self) -> None:
        with self._id_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class MockOpenAI:
    """In-process handle: starts the server in a daemon thread on a free port (or ``port``)."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        slow_first_byte: float = 3.0,
    ) -> None:
        self.server = MockHTTPServer((host, port), api_key, slow_first_byte)
        self.host = host
        self.port: int = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def state(self) -> MockState:
        return self.server.state

    def start(self) -> MockOpenAI:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.drop_all_connections()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> MockOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- inspection
    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        reqs = self.state.requests()
        if path is not None:
            reqs = [r for r in reqs if r["path"].split("?")[0] == path]
        return reqs

    def streams(self) -> list[dict[str, Any]]:
        return self.state.streams()

    def open_streams(self) -> int:
        return sum(1 for s in self.state.streams() if s["open"])

    def reset(self) -> None:
        self.state.reset()

    def wait_for(self, predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return bool(predicate())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Mock OpenAI upstream for Brutor tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--slow-first-byte", type=float, default=3.0)
    args = parser.parse_args(argv)

    mock = MockOpenAI(
        api_key=args.api_key, host=args.host, port=args.port, slow_first_byte=args.slow_first_byte
    )

    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    print(f"READY {mock.port}", flush=True)
    try:
        mock.server.serve_forever(poll_interval=0.05)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        mock.server.drop_all_connections()
        mock.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
