"""The cache's store and admin side end to end, against the standard-library OpenAI mock upstream:
streamed answers stored (and a cut stream not), saved tokens and cost in the audit row and metrics, admin
invalidation by tenant, model and entry across two workers, and fail-open while a real Redis is stopped
and its recovery when it comes back."""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from e2e_support import GatewayProcess, auth, free_port, make_client, sse_data, wait_until
from mock_openai import DEFAULT_API_KEY, MockOpenAI

KEY_A = "sk-cache-store-a-0123456789"
KEY_B = "sk-cache-store-b-0123456789"
ADMIN = "sk-cache-admin-0123456789abcdef"
CHAT = "/v1/chat/completions"
PRICE = {"input": 2.0, "output": 8.0}  # USD per million tokens


def config(data: Path, upstream: str, **cache: Any) -> dict[str, Any]:
    return {
        "server": {"data_dir": str(data), "access_log": "off", "admin_key": ADMIN},
        "cache": {"enabled": True, **cache},
        "keys": [{"id": "a", "key": KEY_A, "tenant": "alpha"}, {"id": "b", "key": KEY_B, "tenant": "beta"}],
        "providers": [{"name": "up", "type": "openai", "base_url": upstream, "api_key": DEFAULT_API_KEY}],
        "models": [
            {"name": "gpt-ok", "provider": "up", "upstream_model": "mock-gpt", "price": PRICE},
            {"name": "gpt-other", "provider": "up", "upstream_model": "mock-gpt", "price": PRICE},
            {"name": "gpt-dies", "provider": "up", "upstream_model": "mock-die-midstream"},
        ],
    }


@pytest.fixture(scope="module")
def mock() -> Iterator[MockOpenAI]:
    m = MockOpenAI().start()
    try:
        yield m
    finally:
        m.stop()


def serve(root: Path, mock: MockOpenAI, workers: int) -> GatewayProcess:
    g = GatewayProcess(root, config(root / "data", mock.base_url), args=["--workers", str(workers)])
    return g.start(timeout=90)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock: MockOpenAI) -> Iterator[GatewayProcess]:
    g = serve(tmp_path_factory.mktemp("cache-store"), mock, 1)
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture(scope="module")
def gw2(tmp_path_factory: pytest.TempPathFactory, mock: MockOpenAI) -> Iterator[GatewayProcess]:
    """Two workers, each with its own embedded store: invalidations must reach both."""
    g = serve(tmp_path_factory.mktemp("cache-store-2"), mock, 2)
    try:
        yield g
    finally:
        g.stop()


def body(model: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def ask(gw: GatewayProcess, text: str, model: str = "gpt-ok", key: str = KEY_A, **extra: Any) -> Any:
    return gw.request("POST", CHAT, body(model, text, **extra), auth(key))


def status(resp: Any) -> str:
    return str(resp.headers.get("x-brutor-cache", ""))


def upstream_calls(mock: MockOpenAI, text: str) -> int:
    return sum(1 for r in mock.requests("/v1/chat/completions") if text in str(r["body"]))


def until_hit(gw: GatewayProcess, text: str, model: str = "gpt-ok", key: str = KEY_A) -> Any:
    def hit() -> Any:
        resp = ask(gw, text, model, key)
        return resp if status(resp).startswith("hit") else None

    return wait_until(hit, timeout=10)


def warm(gw: GatewayProcess, text: str, model: str = "gpt-ok", key: str = KEY_A) -> None:
    """Stored in both workers, as far as requests can tell: a hit, then 8 parallel asks (spread over the
    workers' connections), then a hit again."""
    until_hit(gw, text, model, key)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: ask(gw, text, model, key), range(8)))
    until_hit(gw, text, model, key)


def test_a_completed_stream_is_stored_and_served_to_both_kinds_of_request(
    gw: GatewayProcess, mock: MockOpenAI
) -> None:
    text = "Stream me the story of the tortoise and the hare."
    with make_client(gw, KEY_A) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-ok", messages=[{"role": "user", "content": text}], stream=True
        )
        assert raw.headers["x-brutor-cache"] == "miss"
        streamed = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    hit = until_hit(gw, text)
    doc = hit.json()
    assert doc["object"] == "chat.completion"
    assert doc["choices"][0]["message"]["content"] == streamed
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["completion_tokens"] > 0
    calls = upstream_calls(mock, text)
    resp = ask(gw, text, stream=True)
    assert status(resp).startswith("hit")
    events = sse_data(resp.body)
    assert events[-1] == "[DONE]"
    assert upstream_calls(mock, text) == calls == 1


def test_a_cut_stream_is_never_stored(gw: GatewayProcess, mock: MockOpenAI) -> None:
    text = "This answer will be cut off halfway."
    for attempt in range(2):
        resp = ask(gw, text, "gpt-dies", stream=True)
        assert status(resp) == "miss", attempt
        assert "upstream_stream_interrupted" in sse_data(resp.body)[-1]
        time.sleep(0.2)  # a store, had one been scheduled, would have landed by now
    assert upstream_calls(mock, text) == 2


def test_a_hit_records_what_it_saved(gw: GatewayProcess) -> None:
    text = "How many legs does a spider have?"
    first = ask(gw, text)
    usage = first.json()["usage"]
    hit = until_hit(gw, text)
    request_id = hit.headers["x-request-id"]
    db = gw.workdir / "data" / "audit.db"

    def row() -> Any:
        if not db.exists():
            return None
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "SELECT cache_status, prompt_tokens, completion_tokens, saved_tokens, saved_cost_usd"
                " FROM audit_log WHERE request_id = ?",
                (request_id,),
            ).fetchone()

    found = wait_until(row, timeout=10)
    assert found, "no audit row for the hit"
    cache_status, prompt, completion, saved, saved_cost = found
    assert (cache_status, prompt, completion) == ("hit", 0, 0)
    assert saved == usage["prompt_tokens"] + usage["completion_tokens"]
    expected = (usage["prompt_tokens"] * PRICE["input"] + usage["completion_tokens"] * PRICE["output"]) / 1e6
    assert saved_cost == pytest.approx(expected)
    metrics = metrics_with(gw, 'brutor_cache_saved_tokens_total{model="gpt-ok",tenant="alpha"}')
    assert 'brutor_cache_requests_total{status="hit"}' in metrics
    usage_api = gw.request("GET", "/admin/usage?tenant=alpha&group_by=model", None, auth(ADMIN)).json()
    by_model = {r["group"]: r for r in usage_api["data"]}
    assert by_model["gpt-ok"]["cache_hits"] >= 1 and by_model["gpt-ok"]["saved_tokens"] >= saved


def metrics_with(gw: GatewayProcess, needle: str) -> str:
    """The exposition once it shows ``needle`` (workers write their totals every second or so)."""

    def exposition() -> str | None:
        text = gw.request("GET", "/metrics").text
        return text if needle in text else None

    found = wait_until(exposition, timeout=10)
    assert found, f"{needle} never appeared in /metrics"
    return str(found)


def invalidate(gw: GatewayProcess, query: str) -> Any:
    return gw.request("DELETE", f"/admin/cache?{query}", None, auth(ADMIN))


def test_invalidate_by_tenant(gw: GatewayProcess) -> None:
    text = "Which river flows through Paris?"
    for key in (KEY_A, KEY_B):
        until_hit(gw, text, key=key)
    resp = invalidate(gw, "tenant=alpha")
    assert resp.status == 200 and resp.json()["invalidated"] >= 1
    assert status(ask(gw, text)) == "miss"
    assert status(ask(gw, text, key=KEY_B)).startswith("hit")


def test_invalidation_reaches_every_worker(gw2: GatewayProcess) -> None:
    questions = [f"Which river flows through city number {i}?" for i in range(6)]
    for q in questions:
        warm(gw2, q)
    assert invalidate(gw2, "tenant=alpha").status == 200
    # Whichever worker answers first, it must not serve an entry stored before the invalidation.
    for q in questions:
        assert status(ask(gw2, q)) == "miss", q


def test_invalidate_by_model_and_by_entry(gw: GatewayProcess) -> None:
    text = "What colour is the sky on Mars?"
    warm(gw, text, "gpt-ok")
    warm(gw, text, "gpt-other")
    assert invalidate(gw, "model=gpt-other").status == 200
    assert status(ask(gw, text, "gpt-other")) == "miss"
    assert status(ask(gw, text, "gpt-ok")).startswith("hit")
    key = ask(gw, text, "gpt-ok").headers["x-brutor-cache-key"]
    other = "Why is the sky on Earth blue?"
    warm(gw, other, "gpt-ok")
    resp = invalidate(gw, f"tenant=alpha&model=gpt-ok&key={key}")
    assert resp.status == 200
    assert status(ask(gw, text, "gpt-ok")) == "miss"
    assert status(ask(gw, other, "gpt-ok")).startswith("hit")


def test_invalidation_needs_an_admin_and_a_scope(gw: GatewayProcess) -> None:
    assert gw.request("DELETE", "/admin/cache?tenant=alpha", None, auth(KEY_A)).status == 401
    for query, param in (("", "tenant"), ("key=abcdef0123456789", "tenant"), ("tenant=alpha&key=zz", "key")):
        resp = invalidate(gw, query)
        assert resp.status == 400 and resp.json()["error"]["param"] in (param, "key"), (query, resp.json())
    resp = invalidate(gw, "tenant=alpha&colour=red")
    assert resp.status == 400 and "colour" in resp.json()["error"]["message"]


# -- a real Redis, stopped and started again ------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own on a free port (the machine's shared Redis is never stopped)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


def test_fails_open_while_redis_is_stopped_and_recovers(tmp_path: Path, mock: MockOpenAI) -> None:
    redis = PrivateRedis(tmp_path)
    redis.start()
    cfg = config(
        tmp_path / "data", mock.base_url, entries="redis", redis_url=f"redis://127.0.0.1:{redis.port}/0"
    )
    g = GatewayProcess(tmp_path, cfg)
    g.start(timeout=90)
    try:
        text = "Is the Redis cache up?"
        assert status(ask(g, text)) == "miss"
        until_hit(g, text)
        redis.stop()
        for _ in range(3):
            resp = ask(g, text)
            assert resp.status == 200 and status(resp) == "bypass; reason=unavailable"
            assert resp.json()["choices"][0]["message"]["content"]
        metrics_with(g, 'brutor_cache_requests_total{status="unavailable"}')
        metrics_with(g, 'brutor_cache_errors_total{operation="lookup"}')
        assert g.stderr().count("cache unavailable") == 1  # logged once, not per request
        redis.start()  # empty: it keeps nothing on disk
        wait_until(lambda: status(ask(g, text)) == "miss", timeout=10)
        until_hit(g, text)
    finally:
        g.stop()
        redis.stop()


# -- vectors from an embeddings model the gateway routes -----------------------------------------------


def route_config(data: Path, upstream: str, embedding_model: str) -> dict[str, Any]:
    cfg = config(data, upstream, embedder="route", embedding_model=embedding_model)
    cfg["models"] += [
        {
            "name": "embed-folded",
            "provider": "up",
            "upstream_model": "mock-embed-folded",
            "type": "embedding",
        },
        {"name": "embed-broken", "provider": "down", "upstream_model": "any", "type": "embedding"},
    ]
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    cfg["providers"] += [{"name": "down", "type": "openai", "base_url": dead, "api_key": DEFAULT_API_KEY}]
    return cfg


def test_routed_embeddings_give_semantic_hits_and_are_audited(tmp_path: Path, mock: MockOpenAI) -> None:
    g = GatewayProcess(tmp_path, route_config(tmp_path / "data", mock.base_url, "embed-folded"))
    g.start(timeout=90)
    try:
        first = ask(g, "What is the capital of Peru?")
        assert status(first) == "miss"
        until_hit(g, "What is the capital of Peru?")
        # Same words, other case and punctuation: another exact key, the same folded embedding, so the
        # first question's entry is served (its key, not this question's).
        near = ask(g, "what is the capital of peru")
        assert status(near) == "hit; similarity=1.0000", status(near)
        assert near.headers["x-brutor-cache-key"] == first.headers["x-brutor-cache-key"]
        assert near.json() == first.json()
        assert any("capital of peru" in str(r["body"]) for r in mock.requests("/v1/embeddings"))
        db = g.workdir / "data" / "audit.db"

        def embedding_rows() -> Any:
            if not db.exists():
                return None
            with sqlite3.connect(db) as conn:
                return conn.execute(
                    "SELECT tenant, resource, deployment, status FROM audit_log"
                    " WHERE operation = 'embeddings' AND key_id = 'brutor-cache'"
                ).fetchall()

        rows = wait_until(embedding_rows, timeout=10)
        assert rows and set(rows) == {("alpha", "embed-folded", "up/mock-embed-folded", 200)}
    finally:
        g.stop()


def test_a_failing_embeddings_model_fails_open(tmp_path: Path, mock: MockOpenAI) -> None:
    g = GatewayProcess(tmp_path, route_config(tmp_path / "data", mock.base_url, "embed-broken"))
    g.start(timeout=90)
    try:
        resp = ask(g, "Is the embeddings model up?")
        assert resp.status == 200 and status(resp) == "bypass; reason=unavailable"
        assert resp.json()["choices"][0]["message"]["content"]
        assert "cache unavailable" in g.stderr() and DEFAULT_API_KEY not in g.stderr()
    finally:
        g.stop()
