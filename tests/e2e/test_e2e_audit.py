"""The audit trail end to end: a row per request in PostgreSQL through a 30 s database outage and a
SIGKILLed gateway; rejections get rows too; the usage API reads them back."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from e2e_support import GatewayProcess, auth, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
from audit_support import CuttableProxy

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = os.environ.get("BRUTOR_TEST_PG", f"postgresql://postgres@{PG_HOST}:{PG_PORT}/test")
KEY = "sk-audit-e2e-0123456789"
ADMIN = "sk-audit-admin-0123456789"
CHAT = "/v1/chat/completions"
BODY = {"model": "offline/echo", "messages": [{"role": "user", "content": "audit me"}]}


class ProxyThread:
    """The cuttable proxy on its own event loop thread (the test itself is synchronous)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = CuttableProxy(PG_HOST, PG_PORT)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(5)

    def cut(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.cut)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(self.proxy.restore)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.aclose(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def proxy() -> Iterator[ProxyThread]:
    p = ProxyThread()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def schema() -> Iterator[str]:
    name = "brutor_audit_e2e_" + secrets.token_hex(4)
    try:
        yield name
    finally:

        async def drop() -> None:
            conn = await asyncpg.connect(PG_URL)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            await conn.close()

        asyncio.run(drop())


def config(port: int, schema: str, data_dir: Path, **limits: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "server": {"admin_key": ADMIN, "access_log": "off", "data_dir": str(data_dir)},
        "keys": [{"id": "audit-key", "key": KEY, "tenant": "audited"}],
        "audit": {
            "sink": "postgres",
            "postgres_url": f"postgresql://postgres@127.0.0.1:{port}/test",
            "schema_name": schema,
            "flush_ms": 100,
        },
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [{"name": "offline/echo", "provider": "offline"}],
    }
    if limits:
        cfg["limits"] = {"tenants": {"audited": limits}}
    return cfg


def rows(schema: str) -> dict[str, tuple[int, str | None]]:
    async def go() -> dict[str, tuple[int, str | None]]:
        conn = await asyncpg.connect(PG_URL)
        try:
            found = await conn.fetch(f'SELECT request_id, status, error_code FROM "{schema}".audit_log')
        finally:
            await conn.close()
        return {r["request_id"]: (r["status"], r["error_code"]) for r in found}

    return asyncio.run(go())


def gateway_id(resp: Any) -> str:
    return str(resp.headers.get("x-brutor-request-id") or resp.headers["x-request-id"])


def test_every_request_has_one_row_through_a_30s_database_outage(
    tmp_path: Path, proxy: ProxyThread, schema: str
) -> None:
    gw = GatewayProcess(
        tmp_path, config(proxy.proxy.port, schema, tmp_path / "data"), args=["--workers", "2"]
    )
    gw.start()
    made: dict[str, int] = {}
    stop = threading.Event()

    def load() -> None:
        i = 0
        while not stop.is_set():
            resp = gw.request("POST", CHAT, BODY, {**auth(KEY), "X-Request-ID": f"outage-{i}"})
            made[gateway_id(resp)] = resp.status
            i += 1
            time.sleep(0.01)

    thread = threading.Thread(target=load)
    try:
        thread.start()
        time.sleep(3)
        proxy.cut()
        cut_at = len(made)
        time.sleep(30)
        during = len(made) - cut_at
        proxy.restore()
        time.sleep(3)
        stop.set()
        thread.join(10)
        assert during > 100, "the gateway kept serving while the database was unreachable"
        assert set(made.values()) == {200}
        assert wait_until(lambda: set(rows(schema)) >= set(made), 30), "rows missing after the outage"
        stored = rows(schema)
        assert set(stored) == set(made)  # exactly one row each (request_id is the primary key)
        assert "audit sink postgres failing" in gw.stderr()
    finally:
        stop.set()
        gw.stop()


def test_rows_spooled_before_a_sigkill_are_written_after_restart(
    tmp_path: Path, proxy: ProxyThread, schema: str
) -> None:
    data = tmp_path / "data"
    cfg = config(proxy.proxy.port, schema, data)
    gw = GatewayProcess(tmp_path / "first", cfg)
    gw.start()
    proxy.cut()
    acked = []
    for i in range(200):
        resp = gw.request("POST", CHAT, BODY, {**auth(KEY), "X-Request-ID": f"kill-{i}"})
        assert resp.status == 200
        acked.append(gateway_id(resp))
    assert gw.proc is not None
    os.killpg(gw.proc.pid, signal.SIGKILL)
    gw.proc.wait(10)
    proxy.restore()
    assert not set(acked) & set(rows(schema)), "nothing could be written while the database was cut"
    again = GatewayProcess(tmp_path / "second", cfg, port=gw.port)
    again.start()
    try:
        assert wait_until(lambda: set(rows(schema)) >= set(acked), 20), (
            "spooled rows not written after restart"
        )
        assert len([r for r in rows(schema) if r in set(acked)]) == 200
    finally:
        again.stop()


def test_rejections_have_rows_and_usage_reads_them(tmp_path: Path, proxy: ProxyThread, schema: str) -> None:
    gw = GatewayProcess(tmp_path, config(proxy.proxy.port, schema, tmp_path / "data", rpm=3))
    gw.start()
    try:
        statuses = {}
        for _ in range(5):
            resp = gw.request("POST", CHAT, BODY, auth(KEY))
            statuses[gateway_id(resp)] = resp.status
        denied = gw.request("POST", CHAT, BODY, auth("sk-not-a-key-0123456789"))
        statuses[gateway_id(denied)] = denied.status
        assert sorted(statuses.values()) == [200, 200, 200, 401, 429, 429]
        assert wait_until(lambda: set(rows(schema)) >= set(statuses), 10)
        stored = rows(schema)
        assert {stored[k][0] for k in statuses} == {200, 401, 429}
        assert [stored[k][1] for k, s in statuses.items() if s == 429] == ["rate_limit_exceeded"] * 2
        usage = gw.request("GET", "/admin/usage?tenant=audited&group_by=model", headers=auth(ADMIN))
        assert usage.status == 200
        (row,) = usage.json()["data"]
        assert row["group"] == "offline/echo" and row["requests"] == 5 and row["errors"] == 2
        assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
        bad = gw.request("GET", "/admin/usage?group_by=planet", headers=auth(ADMIN))
        assert bad.status == 400 and bad.json()["error"]["param"] == "group_by"
        naive = gw.request("GET", "/admin/usage?from=2026-01-01T00:00:00", headers=auth(ADMIN))
        assert naive.status == 400 and naive.json()["error"]["param"] == "from"
    finally:
        gw.stop()
