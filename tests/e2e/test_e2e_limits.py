"""Rate limits and quotas through a real `brutor serve`: OpenAI's headers, 429s the SDK understands,
reservations released when a client leaves, and one RPM limit held by two gateways sharing Redis."""

from __future__ import annotations

import concurrent.futures
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis
from e2e_support import GatewayProcess, make_client
from mock_openai import DEFAULT_API_KEY as UPSTREAM_KEY
from mock_openai import MockOpenAI

CHAT = "/v1/chat/completions"
KEY_RPM = "sk-limits-rpm-0123456789"
KEY_TPM = "sk-limits-tpm-0123456789"
KEY_CONC = "sk-limits-conc-012345678"
KEY_BUDGET = "sk-limits-budget-0123456"


def body(model: str = "offline/echo", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def config(upstream: str, tenant: str, backend: str = "memory") -> dict[str, Any]:
    return {
        "server": {"access_log": "off"},
        "keys": [
            {"id": "rpm", "key": KEY_RPM, "tenant": "t-rpm", "limits": {"rpm": 5}},
            {"id": "tpm", "key": KEY_TPM, "tenant": "t-tpm", "limits": {"tpm": 300}},
            {"id": "conc", "key": KEY_CONC, "tenant": "t-conc", "limits": {"concurrency": 1}},
            {"id": "budget", "key": KEY_BUDGET, "tenant": "t-budget"},
            {"id": "shared", "key": "sk-limits-shared-0123456", "tenant": tenant},
        ],
        "limits": {
            "backend": backend,
            "tenants": {tenant: {"rpm": 300}, "t-budget": {"cost_per_day_usd": 0.001}},
            "default_max_tokens": 50,
        },
        "providers": [
            {"name": "offline", "type": "offline"},
            {"name": "up", "type": "openai", "base_url": upstream, "api_key": UPSTREAM_KEY},
        ],
        "models": [
            {"name": "offline/echo", "provider": "offline"},
            # $10 per million tokens each way: ~700 micro-USD reserved, ~90 spent per request, so a
            # $0.001 daily budget admits four requests.
            {"name": "pricey/echo", "provider": "offline", "price": {"input": 10, "output": 10}},
            {"name": "slow-stream", "provider": "up", "upstream_model": "mock-slow-stream"},
        ],
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock_upstream: MockOpenAI) -> Iterator[GatewayProcess]:
    work: Path = tmp_path_factory.mktemp("limits-gw")
    gateway = GatewayProcess(work, config(mock_upstream.base_url, "t-unused")).start()
    yield gateway
    gateway.stop()


def test_rpm_headers_then_429_with_retry_after(gw: GatewayProcess) -> None:
    remaining = []
    for _ in range(5):
        resp = gw.request("POST", CHAT, body(), auth(KEY_RPM))
        assert resp.status == 200, resp
        assert resp.headers["x-ratelimit-limit-requests"] == "5"
        remaining.append(int(resp.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [4, 3, 2, 1, 0]
    refused = gw.request("POST", CHAT, body(), auth(KEY_RPM))
    assert refused.status == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
    assert "sk-limits" not in refused.body.decode()
    assert 1 <= int(refused.headers["retry-after"]) <= 13  # one request refills in 60/5 = 12 s
    with make_client(gw, KEY_RPM) as client, pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="offline/echo", messages=[{"role": "user", "content": "x"}])


def test_tpm_reserves_estimate_plus_max_tokens(gw: GatewayProcess) -> None:
    too_big = gw.request("POST", CHAT, body(max_tokens=1000), auth(KEY_TPM))
    assert too_big.status == 400 and too_big.json()["error"]["code"] == "tokens_exceed_limit"
    ok = gw.request("POST", CHAT, body(max_tokens=20), auth(KEY_TPM))
    assert ok.status == 200
    # Reconciled with real usage (a few tokens), not the reservation: most of the 300 is left.
    assert int(ok.headers["x-ratelimit-remaining-tokens"]) < 300
    again = gw.request("POST", CHAT, body(max_tokens=20), auth(KEY_TPM))
    assert again.status == 200
    assert int(again.headers["x-ratelimit-remaining-tokens"]) > 200


def test_cost_budget_refuses_with_insufficient_quota(gw: GatewayProcess) -> None:
    statuses = [gw.request("POST", CHAT, body("pricey/echo"), auth(KEY_BUDGET)).status for _ in range(6)]
    # Each request reserves its estimate and is settled to its real cost, so exactly four fit.
    assert statuses == [200, 200, 200, 200, 429, 429], statuses
    refused = gw.request("POST", CHAT, body("pricey/echo"), auth(KEY_BUDGET))
    assert refused.json()["error"]["code"] == "insufficient_quota"
    # Cheap models are not blocked by a tenant's cost budget they do not consume.
    assert gw.request("POST", CHAT, body(), auth(KEY_BUDGET)).status == 200


def test_concurrency_slot_is_released_when_a_streaming_client_leaves(gw: GatewayProcess) -> None:
    import json

    payload = json.dumps(body("slow-stream", stream=True)).encode()
    raw = (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY_CONC}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
    try:
        sock.sendall(raw)
        assert b"200 OK" in sock.recv(65536)
        busy = gw.request("POST", CHAT, body(), auth(KEY_CONC))
        assert busy.status == 429 and busy.json()["error"]["code"] == "rate_limit_exceeded"
    finally:
        sock.close()
    deadline = time.monotonic() + 3
    status = 0
    while time.monotonic() < deadline and status != 200:
        status = gw.request("POST", CHAT, body(), auth(KEY_CONC)).status
        time.sleep(0.1)
    assert status == 200, "the slot of the client that left was not released"


def test_two_gateways_sharing_redis_hold_one_rpm_limit(
    tmp_path_factory: pytest.TempPathFactory, mock_upstream: MockOpenAI
) -> None:
    tenant = f"shared-{uuid.uuid4().hex[:10]}"
    gateways = [
        GatewayProcess(
            tmp_path_factory.mktemp(f"redis-gw{i}"), config(mock_upstream.base_url, tenant, "redis")
        ).start()
        for i in range(2)
    ]
    try:

        def one(i: int) -> int:
            return gateways[i % 2].request("POST", CHAT, body(), auth("sk-limits-shared-0123456")).status

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(one, range(1000)))
        elapsed = time.monotonic() - started
    finally:
        for g in gateways:
            g.stop()
        client = redis.Redis(host="127.0.0.1", port=6379)
        for k in client.scan_iter(f"brutor:rl:{{tenant:{tenant}}}*"):
            client.delete(k)
        client.close()
    allowed = statuses.count(200)
    assert set(statuses) <= {200, 429}
    # A token bucket: the burst (300) plus what refills (300/min) while the test runs.
    expected = 300 + 300 * elapsed / 60
    assert abs(allowed - expected) <= 0.01 * 300 + 1, (allowed, expected, elapsed)
