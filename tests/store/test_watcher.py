"""The per-worker store watcher: follows changes, survives a dropped listener, and waits out an outage."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
import pytest
from conftest import PG_URL

from brutor.config import TenantConfig
from brutor.store.postgres import PgConfigStore
from brutor.store.snapshot import Snapshot
from brutor.store.watcher import StoreWatcher


async def _wait_for(seen: list[Snapshot], predicate: object, within: float = 2.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if seen and predicate(seen[-1]):  # type: ignore[operator]
            return time.monotonic() - start
        await asyncio.sleep(0.01)
    raise AssertionError(f"no matching snapshot within {within}s")


def test_follows_changes_and_a_dropped_listener(
    runner: asyncio.Runner, store: PgConfigStore, schema: str
) -> None:
    async def go() -> None:
        seen: list[Snapshot] = []

        async def on_snapshot(s: Snapshot) -> None:
            seen.append(s)

        watcher = StoreWatcher(store, await store.version(), on_snapshot, poll_seconds=1.0)
        watcher.start(asyncio.get_running_loop())
        try:
            await asyncio.sleep(0.2)
            await store.create_tenant(TenantConfig(id="one"))
            assert await _wait_for(seen, lambda s: [t.id for t in s.tenants] == ["one"]) < 0.5
            # The server drops the listening connection; a change made meanwhile still arrives.
            admin = await asyncpg.connect(PG_URL)
            try:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'brutor' AND query LIKE 'LISTEN%'"
                )
                assert killed >= 1
                await admin.execute(f"INSERT INTO \"{schema}\".tenants (id) VALUES ('two')")
            finally:
                await admin.close()
            await _wait_for(seen, lambda s: {t.id for t in s.tenants} == {"one", "two"})
        finally:
            await watcher.aclose()

    runner.run(go())


def test_an_unreachable_store_is_logged_once_and_retried(
    runner: asyncio.Runner, caplog: pytest.LogCaptureFixture
) -> None:
    async def go() -> None:
        store = PgConfigStore("postgresql://postgres@127.0.0.1:1/test", "brutor")

        async def on_snapshot(s: Snapshot) -> None:
            raise AssertionError("nothing to read")

        watcher = StoreWatcher(store, None, on_snapshot, poll_seconds=0.1)
        with caplog.at_level(logging.WARNING, logger="brutor.store"):
            watcher.start(asyncio.get_running_loop())
            await asyncio.sleep(0.8)
            await watcher.aclose()
        await store.aclose()

    runner.run(go())
    lines = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(lines) == 1 and "keeping the last config" in lines[0]
