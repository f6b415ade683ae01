"""Versioned migrations against real PostgreSQL: applied once, concurrently safe, tamper-evident."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from conftest import PG_URL

from brutor.store.errors import StoreError
from brutor.store.migrate import migrate, migrations
from brutor.store.postgres import PgConfigStore


def test_migrations_are_numbered_without_gaps() -> None:
    found = migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "config_store"


def test_applied_once_then_up_to_date(runner: asyncio.Runner, schema: str) -> None:
    store = PgConfigStore(PG_URL, schema)
    assert runner.run(store.migrate()) == [m.version for m in migrations()]
    assert runner.run(store.migrate()) == []
    assert runner.run(store.version()) == 1
    runner.run(store.aclose())


def test_replicas_starting_together_apply_each_migration_once(runner: asyncio.Runner, schema: str) -> None:
    async def go() -> list[list[int]]:
        conns = [await asyncpg.connect(PG_URL) for _ in range(4)]
        try:
            return list(await asyncio.gather(*(migrate(c, schema) for c in conns)))
        finally:
            for c in conns:
                await c.close()

    results = runner.run(go())
    assert sorted(results, key=len) == [[], [], [], [m.version for m in migrations()]]


async def _execute(sql: str, *args: object) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


def test_an_edited_migration_stops_start_up(
    runner: asyncio.Runner, store: PgConfigStore, schema: str
) -> None:
    runner.run(_execute(f'UPDATE "{schema}".schema_migrations SET checksum = $1 WHERE version = 1', "0" * 64))
    with pytest.raises(StoreError, match="changed after it was applied"):
        runner.run(store.migrate())


def test_a_newer_database_stops_start_up(runner: asyncio.Runner, store: PgConfigStore, schema: str) -> None:
    runner.run(_execute(f"INSERT INTO \"{schema}\".schema_migrations VALUES (999, 'future', 'x', now())"))
    with pytest.raises(StoreError, match="newer than this gateway"):
        runner.run(store.migrate())


def test_unreachable_database_is_a_clear_error_without_the_password(runner: asyncio.Runner) -> None:
    store = PgConfigStore("postgresql://brutor:hunter2-secret@127.0.0.1:1/x", "brutor")
    with pytest.raises(StoreError) as info:
        runner.run(store.migrate())
    assert "hunter2" not in str(info.value)
    assert "cannot be used" in str(info.value)
