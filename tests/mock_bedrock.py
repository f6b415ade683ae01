"""A standard-library mock of Bedrock's Converse API: ``POST /model/{modelId}/converse`` (JSON) and
``/converse-stream`` (binary AWS event stream), the upstream of Brutor's Bedrock end-to-end tests.

Every request is checked as AWS would: the SigV4 signature recomputed with botocore's signer over the
request exactly as received (path, signed headers, body) with the test credentials — or a Bedrock API
key as ``Authorization: Bearer`` — and the body validated against botocore's service model for
``Converse`` (unknown parameters included). Event-stream frames are encoded here with ``struct`` and
``zlib.crc32``; each frame is written in two pieces so the gateway sees frames split across reads.

Behaviour by model id (any id works; these substrings select a behaviour):

``throttled``            429 ``ThrottlingException``
``throttle-first``       streams: 200, then a ``throttlingException`` before any event
``exception-midstream``  streams: 3 text deltas, then a ``modelStreamErrorException``
``die-midstream``        streams: 3 text deltas, then the connection drops
otherwise                normal answers; with tools (and a toolConfig) a text and a ``toolUse`` of the
                         first (or forced) tool; after a tool result ``Tool said: <result>``
"""

from __future__ import annotations

import hmac
import json
import re
import struct
import zlib
from typing import Any
from urllib.parse import unquote

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.validate import ParamValidator
from mock_anthropic import MockHandle, MockHandlerBase
from mock_openai import count_words, sample_from_schema, split_pieces

# The example credentials of AWS's documentation.
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"
API_KEY = "bedrock-api-key-mock-5b1e"
MIDSTREAM_DELTAS = 3
TOOL_USE_ID = "tooluse_mock0001"
TOOL_PREAMBLE = "Let me check."

_MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers."""
    raw = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v.encode())) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack(">II", 16 + len(raw) + len(payload), len(raw))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    # Bedrock pads event payloads with a "p" field of varying length.
    padded = {**payload, "p": "abcdefghijklmnopqrstuvwxyz"[: 3 + len(kind) % 20]}
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(padded).encode())


def exception(kind: str, message: str) -> bytes:
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())


def verify_signature(
    method: str, path: str, headers: dict[str, str], body: bytes, token: str | None
) -> str | None:
    """None if the request carries a valid SigV4 signature for the test credentials, else why not."""
    m = _AUTH.match(headers.get("authorization", ""))
    if m is None:
        return "missing or malformed SigV4 Authorization header"
    if (m["key"], m["region"], m["service"]) != (ACCESS_KEY, REGION, "bedrock"):
        return f"unexpected credential scope {m['key']}/{m['region']}/{m['service']}"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(m["date"]):
        return "x-amz-date does not match the credential scope"
    if token is not None and headers.get("x-amz-security-token") != token:
        return "missing or wrong x-amz-security-token"
    signed = m["sig"]
    names = m["signed"].split(";")
    if "host" not in names or any(n not in headers for n in names):
        return f"signed headers {names} not all present"
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{path}",
        data=body,
        headers={n: headers[n] for n in names},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, token), "bedrock", REGION)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, signed):
        return "The request signature we calculated does not match the signature you provided."
    return None


def validate_converse(model_id: str, body: dict[str, Any]) -> str | None:
    """None if botocore's service model accepts ``body`` as a Converse input, else the report."""
    shape = _MODEL.operation_model("Converse").input_shape
    report = ParamValidator().validate({"modelId": model_id, **body}, shape)
    return report.generate_report() if report.has_errors() else None


def texts(content: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in content:
        if "text" in block:
            out.append(block["text"])
        elif "toolResult" in block:
            out.extend(texts(block["toolResult"]["content"]))
    return out


def answer_blocks(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    content = body["messages"][-1]["content"]
    results = [b["toolResult"] for b in content if "toolResult" in b]
    if results:
        return [{"text": "Tool said: " + " ".join(texts(results[0]["content"]))}], "end_turn"
    config = body.get("toolConfig")
    if config:
        specs = [t["toolSpec"] for t in config["tools"]]
        forced = (config.get("toolChoice") or {}).get("tool", {}).get("name")
        spec = next((s for s in specs if s["name"] == forced), specs[0])
        use = {
            "toolUseId": TOOL_USE_ID,
            "name": spec["name"],
            "input": sample_from_schema(spec["inputSchema"]["json"]),
        }
        return [{"text": TOOL_PREAMBLE}, {"toolUse": use}], "tool_use"
    return [{"text": "Mock reply to: " + " ".join(texts(content))}], "end_turn"


def usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
    prompt = sum(count_words(t["text"]) for t in body.get("system", [])) + sum(
        count_words(t) for m in body["messages"] for t in texts(m["content"])
    )
    completion = sum(
        count_words(b["text"]) if "text" in b else len(json.dumps(b["toolUse"]["input"])) // 4 for b in blocks
    )
    return {"inputTokens": prompt, "outputTokens": completion, "totalTokens": prompt + completion}


class BedrockHandler(MockHandlerBase):
    server_version = "MockBedrock/1.0"
    # Set by MockBedrock: the session token the signature must carry (temporary credentials).
    session_token: str | None = None

    def error(self, status: int, kind: str, message: str) -> None:
        self.send_json(
            status,
            {"message": message},
            {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
        )

    def do_POST(self) -> None:
        raw = self.read_body()
        body = self.record(raw)
        m = re.fullmatch(r"/model/([^/]+)/(converse|converse-stream)", self.path)
        if m is None:
            self.error(404, "UnknownOperationException", f"Not found: {self.path}")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        if headers.get("authorization", "").startswith("Bearer "):
            problem = None if headers["authorization"] == f"Bearer {API_KEY}" else "invalid API key"
        else:
            problem = verify_signature("POST", self.path, headers, raw, self.session_token)
        if problem is not None:
            self.error(
                403,
                "InvalidSignatureException" if "signature" in problem else "AccessDeniedException",
                problem,
            )
            return
        model_id = unquote(m[1])
        problem = (
            "body is not a JSON object" if not isinstance(body, dict) else validate_converse(model_id, body)
        )
        if problem is not None:
            self.error(400, "ValidationException", problem)
            return
        if "throttled" in model_id:
            self.error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
            return
        blocks, stop = answer_blocks(body)
        try:
            if m[2] == "converse-stream":
                self._stream(model_id, blocks, stop, usage(body, blocks))
            else:
                answer = {
                    "output": {"message": {"role": "assistant", "content": blocks}},
                    "stopReason": stop,
                    "usage": usage(body, blocks),
                    "metrics": {"latencyMs": 12},
                }
                self.send_json(200, answer, {"x-amzn-RequestId": f"mock-{self.server.next_id()}"})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send(self, message: bytes) -> None:
        cut = min(len(message) - 1, 9)
        self.write_chunk(message[:cut])
        self.write_chunk(message[cut:])

    def _stream(self, model_id: str, blocks: list[dict[str, Any]], stop: str, used: dict[str, int]) -> None:
        rec = self.start_chunked("application/vnd.amazon.eventstream")
        if "throttle-first" in model_id:
            self._send(exception("throttlingException", "Too many tokens, please wait before trying again."))
            self.end_chunked(rec)
            return
        self._send(event("messageStart", {"role": "assistant"}))
        deltas = 0
        for index, block in enumerate(blocks):
            if "text" in block:
                for piece in split_pieces(block["text"]):
                    self._send(
                        event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
                    )
                    deltas += 1
                    if deltas == MIDSTREAM_DELTAS and "die-midstream" in model_id:
                        self.abort(rec)
                        return
                    if deltas == MIDSTREAM_DELTAS and "exception-midstream" in model_id:
                        self._send(exception("modelStreamErrorException", "The model failed mid-answer."))
                        self.end_chunked(rec)
                        return
            else:
                use = block["toolUse"]
                start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
                self._send(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
                args = json.dumps(use["input"])
                for i in range(0, len(args), 7):
                    delta = {"toolUse": {"input": args[i : i + 7]}}
                    self._send(event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
            self._send(event("contentBlockStop", {"contentBlockIndex": index}))
        self._send(event("messageStop", {"stopReason": stop}))
        self._send(event("metadata", {"usage": used, "metrics": {"latencyMs": 12}}))
        self.end_chunked(rec)


class MockBedrock(MockHandle):
    def __init__(self, session_token: str | None = None) -> None:
        handler = type("Handler", (BedrockHandler,), {"session_token": session_token})
        super().__init__(handler)

    def start(self) -> MockBedrock:
        super().start()
        return self
