"""The audit writer with real sinks (SQLite, PostgreSQL) and a failing one: order, retries, replay."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import time
from pathlib import Path

import asyncpg
import orjson
import pytest
from audit_support import FlakySink, record

from brutor.audit.record import AuditRecord
from brutor.audit.sinks import _SQLITE_SCHEMA, PostgresSink, SqliteSink, UsageQuery
from brutor.audit.spool import Spool
from brutor.audit.writer import AuditWriter
from brutor.store.postgres import PgConfigStore

PG_URL = os.environ.get("BRUTOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


async def _until(predicate: object, within: float = 3.0) -> None:
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < within, "condition not met in time"
        await asyncio.sleep(0.01)


def test_rows_survive_a_sink_outage_in_order(tmp_path: Path) -> None:
    async def go() -> None:
        spool = Spool(tmp_path, max_bytes=1 << 20)
        spool.open()
        sink = FlakySink()
        writer = AuditWriter(spool, sink, batch_size=10, interval=0.01, fsync_interval=0.01)
        writer.start(asyncio.get_running_loop())
        for i in range(25):
            spool.append(record(i).to_json())
        await _until(lambda: len(sink.rows) == 25)
        sink.down = True
        for i in range(25, 60):
            spool.append(record(i).to_json())
        await _until(lambda: sink.failures >= 2)
        assert len(sink.rows) == 25 and spool.pending > 0
        sink.down = False
        await _until(lambda: len(sink.rows) == 60, within=15)
        assert sink.order == [f"req-{i:06d}" for i in range(60)]
        assert spool.pending == 0
        await writer.aclose()
        spool.close()

    asyncio.run(go())


def test_orphaned_slots_are_adopted(tmp_path: Path) -> None:
    async def go() -> None:
        dead = Spool(tmp_path, max_bytes=1 << 20)
        dead.open()
        for i in range(5):
            dead.append(record(i).to_json())
        dead.close()  # as if its process died: the lock is gone, the rows are not
        live = Spool(tmp_path, max_bytes=1 << 20)
        live.open()  # takes the free slot-0 (the dead one) ...
        other = Spool(tmp_path, max_bytes=1 << 20)
        other.open()  # ... so this one is slot-1 and must adopt nothing of its own
        live.close()  # now slot-0 is an orphan again
        sink = FlakySink()
        writer = AuditWriter(other, sink, batch_size=2, interval=0.01)
        writer.start(asyncio.get_running_loop())
        await _until(lambda: len(sink.rows) == 5)
        await writer.aclose()
        other.close()
        assert not list((tmp_path / "slot-0").glob("*.seg"))

    asyncio.run(go())


def test_sqlite_sink_is_idempotent_and_answers_usage(tmp_path: Path) -> None:
    async def go() -> None:
        sink = SqliteSink(tmp_path / "audit.db")
        t0 = 1_800_000_000.0
        rows = [
            record(i, tenant="a" if i % 2 else "b", model=f"m{i % 3}", started=t0 + i * 3600)
            for i in range(48)
        ]
        await sink.write([r.to_json() for r in rows[:30]])
        await sink.write([r.to_json() for r in rows], rows)  # a replay: nothing twice
        by_tenant = await sink.usage(UsageQuery(None, t0, t0 + 48 * 3600, "tenant"))
        assert [(r["group"], r["requests"], r["prompt_tokens"]) for r in by_tenant] == [
            ("a", 24, 240),
            ("b", 24, 240),
        ]
        by_day = await sink.usage(UsageQuery("a", t0, t0 + 48 * 3600, "day"))
        assert sum(r["requests"] for r in by_day) == 24 and len(by_day) in (2, 3)
        by_model = await sink.usage(UsageQuery("b", t0, t0 + 10 * 3600, "model"))
        assert sum(r["requests"] for r in by_model) == 5
        assert abs(sum(r["cost_usd"] for r in by_model) - 0.005) < 1e-9
        await sink.aclose()

    asyncio.run(go())


@pytest.fixture
def pg_schema() -> str:
    schema = "brutor_audit_" + secrets.token_hex(4)

    async def make() -> None:
        store = PgConfigStore(PG_URL, schema)
        await store.migrate()
        await store.aclose()

    asyncio.run(make())
    try:
        yield schema  # type: ignore[misc]
    finally:

        async def drop() -> None:
            conn = await asyncpg.connect(PG_URL)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()

        asyncio.run(drop())


def test_postgres_sink_is_idempotent_and_answers_usage(pg_schema: str) -> None:
    async def go() -> None:
        sink = PostgresSink(PG_URL, pg_schema)
        t0 = 1_800_000_000.0
        rows = [
            record(
                i,
                tenant="a",
                model=f"m{i % 2}",
                started=t0 + i,
                guardrails=[{"stage": "request", "action": "redact", "types": {"EMAIL": 1}}],
            )
            for i in range(100)
        ]
        await sink.write([r.to_json() for r in rows[:60]])
        await sink.write([r.to_json() for r in rows])
        usage = await sink.usage(UsageQuery("a", t0, t0 + 1000, "model"))
        assert [(r["group"], r["requests"]) for r in usage] == [("m0", 50), ("m1", 50)]
        conn = await asyncpg.connect(PG_URL)
        try:
            stored = await conn.fetchrow(
                f'SELECT count(*), min(guardrails::text) FROM "{pg_schema}".audit_log'
            )
        finally:
            await conn.close()
        assert stored[0] == 100 and "EMAIL" in stored[1]
        await sink.aclose()

    asyncio.run(go())


def test_postgres_sink_takes_a_large_batch_in_one_statement(pg_schema: str) -> None:

    async def go() -> None:
        sink = PostgresSink(PG_URL, pg_schema)
        await sink.write([record(i).to_json() for i in range(5000)])
        usage = await sink.usage(UsageQuery(None, 0, time.time() + 10, "tenant"))
        assert usage[0]["requests"] == 5000
        await sink.aclose()

    asyncio.run(go())


def test_a_row_postgres_refuses_is_skipped_not_retried_forever(pg_schema: str) -> None:
    async def go() -> None:
        sink = PostgresSink(PG_URL, pg_schema)
        rows = [record(i) for i in range(9)]
        # A NUL in text: PostgreSQL refuses it in a json -> text conversion (the return path strips NUL
        # from client-controlled fields; this is the sink's own line of defence).
        rows[4] = record(4, resource="bad\x00model")
        await sink.write([r.to_json() for r in rows])
        usage = await sink.usage(UsageQuery(None, 0, time.time() + 10, "tenant"))
        assert usage[0]["requests"] == 8
        await sink.aclose()

    asyncio.run(go())


def _savings_rows(t0: float) -> list[AuditRecord]:
    hits = [
        record(i, started=t0 + i, cache_status="hit", saved_tokens=30, saved_cost_usd=0.002) for i in range(3)
    ]
    return [*hits, record(3, started=t0 + 3)]


def _old_payload(t0: float) -> bytes:
    """A row spooled by a gateway from before the savings columns (the fields are missing)."""
    doc = orjson.loads(record(4, started=t0 + 4).to_json())
    del doc["saved_tokens"], doc["saved_cost_usd"]
    return orjson.dumps(doc)


def test_sqlite_sink_records_cache_savings_and_upgrades_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    added = ", saved_tokens INTEGER NOT NULL DEFAULT 0,\n    saved_cost_usd REAL NOT NULL DEFAULT 0"
    assert added in _SQLITE_SCHEMA
    with sqlite3.connect(path) as conn:  # the table as the first release created it
        conn.executescript(_SQLITE_SCHEMA.replace(added, ""))
        assert "saved_tokens" not in {r[1] for r in conn.execute("PRAGMA table_info(audit_log)")}

    async def go() -> None:
        sink = SqliteSink(path)
        t0 = 1_800_000_000.0
        await sink.write([r.to_json() for r in _savings_rows(t0)] + [_old_payload(t0)])
        [row] = await sink.usage(UsageQuery("acme", t0, t0 + 100, "model"))
        assert (row["requests"], row["cache_hits"], row["saved_tokens"]) == (5, 3, 90)
        assert row["saved_cost_usd"] == pytest.approx(0.006)
        await sink.aclose()

    asyncio.run(go())


def test_postgres_sink_records_cache_savings(pg_schema: str) -> None:
    async def go() -> None:
        sink = PostgresSink(PG_URL, pg_schema)
        t0 = 1_800_000_000.0
        await sink.write([r.to_json() for r in _savings_rows(t0)] + [_old_payload(t0)])
        [row] = await sink.usage(UsageQuery("acme", t0, t0 + 100, "model"))
        assert (row["requests"], row["cache_hits"], row["saved_tokens"]) == (5, 3, 90)
        assert row["saved_cost_usd"] == pytest.approx(0.006)
        await sink.aclose()

    asyncio.run(go())
