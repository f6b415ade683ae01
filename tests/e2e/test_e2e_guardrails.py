"""Guardrails end to end with the openai SDK through `brutor serve`: block, redact on request, redact a
live stream, per-tenant policies, the external callout, and decisions in the audit trail (never the text)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
from e2e_support import GatewayProcess, free_port, make_client, offline_answer

KEY = "sk-guard-e2e-0123456789"
STRICT_KEY = "sk-guard-strict-0123456789"
EXT_KEY = "sk-guard-ext-0123456789"
OPEN_KEY = "sk-guard-open-0123456789"
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


class Checker:
    """A stand-in for an external guardrail service: blocks texts containing 'forbidden'."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                doc = json.loads(self.rfile.read(int(self.headers["content-length"])))
                outer.calls.append({"doc": doc, "auth": self.headers.get("authorization")})
                verdict = "block" if any("forbidden" in t for t in doc["texts"]) else "allow"
                body = json.dumps({"action": verdict, "reason": "test policy"}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/check"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Checker, Path]]:
    checker = Checker()
    root = tmp_path_factory.mktemp("guard")
    data = root / "data"
    cfg = {
        "server": {"data_dir": str(data)},
        "keys": [
            {"id": "guard", "key": KEY, "tenant": "acme"},
            {"id": "strict", "key": STRICT_KEY, "tenant": "strict"},
            {"id": "ext", "key": EXT_KEY, "tenant": "ext"},
            {"id": "open", "key": OPEN_KEY, "tenant": "ext-open"},
        ],
        "guardrails": {
            "enabled": True,
            "request": {"default": "allow", "actions": {"EMAIL": "redact", "CREDIT_CARD": "block"}},
            "tenants": {
                "strict": {
                    "enabled": True,
                    "request": {"default": "allow"},
                    "response": {"default": "allow", "actions": {"IP_ADDRESS": "redact", "EMAIL": "mask"}},
                },
                "ext": {
                    "enabled": True,
                    "external": {"url": checker.url, "headers": {"authorization": "Bearer ext-secret-123"}},
                },
                "ext-open": {
                    "enabled": True,
                    "external": {
                        "url": f"http://127.0.0.1:{free_port()}/down",
                        "timeout_ms": 300,
                        "on_error": "fail_open",
                    },
                },
            },
        },
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [{"name": "offline/echo", "provider": "offline"}],
    }
    gw = GatewayProcess(root, cfg)
    gw.start()
    try:
        yield gw, checker, data
    finally:
        gw.stop()
        checker.close()


def ask(gw: GatewayProcess, key: str, text: str, **kw: Any) -> Any:
    with make_client(gw, key) as client:
        return client.chat.completions.create(
            model="offline/echo", messages=[{"role": "user", "content": text}], **kw
        )


def test_request_redaction_reaches_the_model_redacted(setup: Any) -> None:
    gw, _, _ = setup
    reply = ask(gw, KEY, f"my mail is {EMAIL}")
    assert reply.choices[0].message.content == offline_answer("my mail is [EMAIL]")


def test_request_block_is_a_400_naming_the_type(setup: Any) -> None:
    gw, _, _ = setup
    with pytest.raises(openai.BadRequestError) as info:
        ask(gw, KEY, f"charge {CARD}")
    body = info.value.body
    assert isinstance(body, dict) and body.get("code") == "content_policy_violation"
    assert "CREDIT_CARD" in str(body.get("message")) and "4111" not in json.dumps(body)


def test_response_redaction_on_a_live_stream_and_whole(setup: Any) -> None:
    gw, _, _ = setup
    text = f"server 10.20.30.40 and {EMAIL} then more words to stream along"
    whole = ask(gw, STRICT_KEY, text).choices[0].message.content
    expected = offline_answer("server [IP_ADDRESS] and j*******@example.com then more words to stream along")
    assert whole == expected
    with make_client(gw, STRICT_KEY) as client:
        stream = client.chat.completions.create(
            model="offline/echo", messages=[{"role": "user", "content": text}], stream=True
        )
        with stream:
            pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
    assert "".join(pieces) == expected
    assert len([p for p in pieces if p]) > 3, "the answer is still streamed, not buffered whole"


def test_external_callout_blocks_allows_and_fails_open(setup: Any) -> None:
    gw, checker, _ = setup
    assert ask(gw, EXT_KEY, "a harmless question").choices[0].message.content == offline_answer(
        "a harmless question"
    )
    with pytest.raises(openai.BadRequestError):
        ask(gw, EXT_KEY, "something forbidden")
    assert checker.calls[-1]["doc"] == {
        "tenant": "ext",
        "model": "offline/echo",
        "texts": ["something forbidden"],
    }
    assert checker.calls[-1]["auth"] == "Bearer ext-secret-123"
    start = time.monotonic()
    assert ask(gw, OPEN_KEY, "hello").choices[0].message.content == offline_answer("hello")
    assert time.monotonic() - start < 5


def test_decisions_are_audited_without_the_matched_text(setup: Any) -> None:
    gw, _, data = setup
    with make_client(gw, KEY) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="offline/echo", messages=[{"role": "user", "content": f"audit {EMAIL} twice {EMAIL}"}]
        )
    rid = raw.headers["x-request-id"]
    db = data / "audit.db"

    def row() -> Any:
        if not db.exists():
            return None
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT guardrails, status FROM audit_log WHERE request_id = ?", (rid,)
            ).fetchone()

    deadline = time.monotonic() + 5
    while (found := row()) is None:
        assert time.monotonic() < deadline, "audit row not written"
        time.sleep(0.05)
    assert json.loads(found[0]) == [{"stage": "request", "action": "redact", "types": {"EMAIL": 2}}]
    assert found[1] == 200
    with sqlite3.connect(db) as conn:
        dump = "\n".join(str(r) for r in conn.execute("SELECT * FROM audit_log"))
    assert EMAIL not in dump and "4111" not in dump
    assert EMAIL not in gw.stdout() + gw.stderr() and "ext-secret-123" not in gw.stdout() + gw.stderr()
