"""A standard-library mock of Vertex AI's Gemini API and of Google's OAuth token endpoint.

The token endpoint runs the real JWT-bearer grant: it verifies the RS256 assertion google-auth signs
with the test service account's key (``cryptography``), then issues short opaque tokens; the model
endpoints accept only those tokens. Nothing here is shared with the gateway's stack.

Usage in-process::

    mock = MockVertex().start()
    info = mock.service_account()      # a service-account JSON dict whose token_uri is this mock
    mock.base_url                      # "http://127.0.0.1:<port>" (the provider's base_url override)
    mock.requests()                    # model requests received (method, path, query, headers, body)
    mock.token_requests                # how many tokens were issued
    mock.stop()

Behaviour is selected by the model name in the path:

``gemini-mock``            answers "Mock reply to: <last user text>"; calls the first tool when tools are
                           given (unless mode NONE or the last turn is a function response); JSON when a
                           response MIME type is set; ``candidateCount`` candidates
``gemini-thinking``        as gemini-mock, plus a thoughtSignature on function calls and thinking tokens
``gemini-429``             429 RESOURCE_EXHAUSTED with ``retry-after``
``gemini-500``             500 INTERNAL
``gemini-blocked-prompt``  promptFeedback.blockReason SAFETY, no candidates
``gemini-blocked-answer``  two words, then finishReason SAFETY
``gemini-die-midstream``   streams two events, then drops the connection
``gemini-no-usage``        streams without usageMetadata
``gemini-trailing-usage``  streams the usage in its own event, after the finish
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from mock_openai import count_words, mock_embedding, sample_from_schema, split_pieces

PROJECT = "mock-project"
CLIENT_EMAIL = f"brutor-test@{PROJECT}.iam.gserviceaccount.com"
RETRY_AFTER_SECONDS = "7"
RESPONSE_ID = "mockResp"
CREATE_TIME = "2026-01-02T03:04:05.123456789Z"
CREATED = 1767323045  # CREATE_TIME in epoch seconds
MODEL_PREFIX = "/v1/projects/mock-project/locations/us-central1/publishers/google/models/"
THOUGHT_SIGNATURE = "c2lnbmF0dXJl"


def _b64url(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def contents_text(body: dict[str, Any]) -> list[str]:
    """Every text part of the request (system instruction first)."""
    texts = [p["text"] for p in (body.get("systemInstruction") or {}).get("parts", []) if "text" in p]
    for content in body.get("contents", []):
        texts += [p["text"] for p in content.get("parts", []) if "text" in p]
    return texts


def last_user_text(body: dict[str, Any]) -> str:
    for content in reversed(body.get("contents", [])):
        texts = [p["text"] for p in content.get("parts", []) if "text" in p]
        if content.get("role") == "user" and texts:
            return " ".join(texts)
    return ""


def reply_text(body: dict[str, Any]) -> str:
    return f"Mock reply to: {last_user_text(body)}"


def prompt_tokens(body: dict[str, Any]) -> int:
    return sum(count_words(t) for t in contents_text(body))


class VertexHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: MockVertexServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ------------------------------------------------------------------------------------ plumbing

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _google_error(self, status: int, google_status: str, message: str, **headers: str) -> None:
        self._send_json(
            status, {"error": {"code": status, "message": message, "status": google_status}}, headers
        )

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlsplit(self.path)
        if url.path == "/token":
            self._token(raw)
            return
        body = json.loads(raw) if raw else None
        self.server.record(
            {
                "method": self.command,
                "path": url.path,
                "query": url.query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        if not self.server.token_valid((self.headers.get("Authorization") or "").removeprefix("Bearer ")):
            self._google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
            return
        if not url.path.startswith(MODEL_PREFIX) or ":" not in url.path:
            self._google_error(404, "NOT_FOUND", f"Unknown path {url.path}")
            return
        model, _, method = url.path[len(MODEL_PREFIX) :].partition(":")
        try:
            self._model(model, method, url.query, body or {})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -------------------------------------------------------------------------------------- OAuth

    def _token(self, raw: bytes) -> None:
        form = parse_qs(raw.decode())
        assertion = form.get("assertion", [""])[0]
        if (
            form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
            or assertion.count(".") != 2
        ):
            self._send_json(400, {"error": "invalid_grant", "error_description": "bad grant"})
            return
        head, claims_b64, sig = assertion.split(".")
        try:
            self.server.public_key.verify(
                _b64url(sig), f"{head}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            self._send_json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
            return
        claims = json.loads(_b64url(claims_b64))
        ok = (
            json.loads(_b64url(head)).get("alg") == "RS256"
            and claims.get("iss") == CLIENT_EMAIL
            # google-auth signs for Google's token endpoint whatever the token_uri (as Google expects).
            and claims.get("aud") == "https://oauth2.googleapis.com/token"
            and "https://www.googleapis.com/auth/cloud-platform" in claims.get("scope", "").split()
            and claims.get("exp", 0) > time.time()
        )
        if not ok:
            self._send_json(400, {"error": "invalid_grant", "error_description": "bad claims"})
            return
        token = self.server.issue()
        self._send_json(
            200, {"access_token": token, "expires_in": self.server.expires_in, "token_type": "Bearer"}
        )

    # ------------------------------------------------------------------------------------- models

    def _model(self, model: str, method: str, query: str, body: dict[str, Any]) -> None:
        if model == "gemini-429":
            self._google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource exhausted. Please try again later.",
                **{"Retry-After": RETRY_AFTER_SECONDS},
            )
            return
        if model == "gemini-500":
            self._google_error(500, "INTERNAL", "Internal error encountered.")
            return
        if method == "predict":
            self._predict(body)
            return
        if method == "generateContent":
            self._send_json(200, self._whole(model, body))
            return
        if method == "streamGenerateContent" and query == "alt=sse":
            self._stream(model, body)
            return
        self._google_error(400, "INVALID_ARGUMENT", f"Unsupported method {method}?{query}")

    def _answer(self, model: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
        """The parts of one candidate and its finish reason."""
        tools = [d for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]
        mode = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("mode", "AUTO")
        last = body["contents"][-1]["parts"]
        if tools and mode != "NONE" and not any("functionResponse" in p for p in last):
            allowed = body.get("toolConfig", {}).get("functionCallingConfig", {}).get("allowedFunctionNames")
            tool = next(t for t in tools if not allowed or t["name"] in allowed)
            part: dict[str, Any] = {
                "functionCall": {
                    "name": tool["name"],
                    "args": sample_from_schema(tool.get("parametersJsonSchema")),
                }
            }
            if model == "gemini-thinking":
                part["thoughtSignature"] = THOUGHT_SIGNATURE
            return [part], "STOP"
        responses = [p["functionResponse"] for p in last if "functionResponse" in p]
        config = body.get("generationConfig", {})
        if responses:
            text = "Tool said: " + json.dumps([r["response"] for r in responses], sort_keys=True)
        elif config.get("responseMimeType") == "application/json":
            text = json.dumps(
                sample_from_schema(config["responseJsonSchema"])
                if "responseJsonSchema" in config
                else {"answer": "mock"}
            )
        else:
            text = reply_text(body)
        return [{"text": text}], "STOP"

    def _usage(self, model: str, body: dict[str, Any], parts: list[dict[str, Any]], n: int) -> dict[str, Any]:
        out = n * sum(count_words(p.get("text") or json.dumps(p.get("functionCall"))) for p in parts)
        usage = {
            "promptTokenCount": prompt_tokens(body),
            "candidatesTokenCount": out,
            "trafficType": "ON_DEMAND",
        }
        if model == "gemini-thinking":
            usage["thoughtsTokenCount"] = 5
        usage["totalTokenCount"] = usage["promptTokenCount"] + out + usage.get("thoughtsTokenCount", 0)
        return usage

    def _envelope(self, **fields: Any) -> dict[str, Any]:
        return {
            **fields,
            "modelVersion": "gemini-mock-001",
            "createTime": CREATE_TIME,
            "responseId": RESPONSE_ID,
        }

    def _blocked(self, body: dict[str, Any]) -> dict[str, Any]:
        feedback = {"blockReason": "SAFETY", "blockReasonMessage": "The prompt could be harmful."}
        usage = {"promptTokenCount": prompt_tokens(body), "totalTokenCount": prompt_tokens(body)}
        return self._envelope(promptFeedback=feedback, usageMetadata=usage)

    def _whole(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        if model == "gemini-blocked-prompt":
            return self._blocked(body)
        n = body.get("generationConfig", {}).get("candidateCount", 1)
        parts, finish = self._answer(model, body)
        if model == "gemini-blocked-answer":
            parts, finish = [], "SAFETY"
        candidates = []
        for i in range(n):
            candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "finishReason": finish}
            if i:
                candidate["index"] = i
            candidates.append(candidate)
        return self._envelope(candidates=candidates, usageMetadata=self._usage(model, body, parts, n))

    def _stream(self, model: str, body: dict[str, Any]) -> None:
        events: list[dict[str, Any]]
        if model == "gemini-blocked-prompt":
            events = [self._blocked(body)]
        else:
            parts, finish = self._answer(model, body)
            pieces: list[list[dict[str, Any]]]
            if "text" in parts[0]:
                words = split_pieces(parts[0]["text"])
                if model == "gemini-blocked-answer":
                    words, finish = words[:2], "SAFETY"
                pieces = [[{"text": w}] for w in words]
            else:
                pieces = [parts]
            partial = {"trafficType": "ON_DEMAND"}
            events = [
                self._envelope(candidates=[{"content": {"role": "model", "parts": p}}], usageMetadata=partial)
                for p in pieces
            ]
            last = {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": finish}
            events.append(self._envelope(candidates=[last], usageMetadata=self._usage(model, body, parts, 1)))
            if model == "gemini-no-usage":
                for event in events:
                    del event["usageMetadata"]
            elif model == "gemini-trailing-usage":
                # The finish without usage, then an event with only the usage.
                events.append(self._envelope(usageMetadata=events[-1].pop("usageMetadata")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, event in enumerate(events):
            if model == "gemini-die-midstream" and i == 2:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._chunk(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
            time.sleep(0.002)
        self._chunk(b"")

    def _predict(self, body: dict[str, Any]) -> None:
        dims = (body.get("parameters") or {}).get("outputDimensionality", 8)
        predictions = [
            {
                "embeddings": {
                    "values": mock_embedding(i["content"], dims),
                    "statistics": {"token_count": count_words(i["content"]), "truncated": False},
                }
            }
            for i in body["instances"]
        ]
        self._send_json(200, {"predictions": predictions, "metadata": {"billableCharacterCount": 1}})


class MockVertexServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int]) -> None:
        super().__init__(addr, VertexHandler)
        self.lock = threading.Lock()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = self.key.public_key()
        self.token_uri = f"http://127.0.0.1:{self.server_address[1]}/token"
        self.expires_in = 3600
        self.tokens: dict[str, float] = {}
        self.token_requests = 0
        self.log: list[dict[str, Any]] = []

    def issue(self) -> str:
        with self.lock:
            self.token_requests += 1
            token = f"ya29.mock-{self.token_requests}"
            self.tokens[token] = time.time() + self.expires_in
            return token

    def token_valid(self, token: str) -> bool:
        with self.lock:
            return self.tokens.get(token, 0.0) > time.time()

    def record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.log.append(entry)


class MockVertex:
    def __init__(self) -> None:
        self.server = MockVertexServer(("127.0.0.1", 0))
        self.port: int = self.server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_requests(self) -> int:
        return self.server.token_requests

    def service_account(self) -> dict[str, Any]:
        pem = self.server.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "mock-key-1",
            "private_key": pem.decode(),
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "token_uri": self.server.token_uri,
        }

    def requests(self) -> list[dict[str, Any]]:
        with self.server.lock:
            return list(self.server.log)

    def reset(self) -> None:
        with self.server.lock:
            self.server.log.clear()

    def start(self) -> MockVertex:
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(5)
