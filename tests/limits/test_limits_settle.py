"""Settling without awaiting (``RateLimiter.settle_now`` on the shared backend, as the return path calls
it): same counters as ``reconcile``, failures counted as lost settlements, NOSCRIPT handled, and the
cases that must fall back to ``reconcile``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import pytest
from fake_redis import DROP, FakeRedis, default_handler
from limits_support import REDIS_URL, FakeClock, delete_prefix, unique_prefix

from brutor.limits import LimitKind, LimitSet, LimitSpec, MemoryBackend, RateLimiter, lua
from brutor.limits.redis_backend import RedisBackend, connect

K = LimitKind
LIMITS = LimitSet(
    [
        ("key:a", LimitSpec(K.RPM, 100)),
        ("key:a", LimitSpec(K.TPM, 10_000)),
        ("key:a", LimitSpec(K.CONCURRENCY, 5)),
        ("tenant:t", LimitSpec(K.TOKENS_PER_DAY, 100_000)),
        ("tenant:t", LimitSpec(K.COST_PER_MONTH, 100_000)),
    ]
)
SLOTS1 = LimitSet([("key:a", LimitSpec(K.CONCURRENCY, 1))])


def sha(source: str) -> bytes:
    return hashlib.sha1(source.encode()).hexdigest().encode()


def test_settle_now_matches_reconcile_on_the_counters() -> None:
    async def go() -> tuple[list[int], list[int], dict[str, object]]:
        clock = FakeClock()
        client = connect(REDIS_URL, timeout=2.0)
        prefix = unique_prefix()
        shared = RedisBackend(client, prefix=prefix, clock=clock)
        limiter = RateLimiter(MemoryBackend(clock), shared, clock=clock)
        mem = MemoryBackend(clock)
        try:
            for tokens, cost, used, paid in ((500, 900, 300, 1200), (40, 0, 40, 0), (10, 10, 0, 0)):
                d = await limiter.reserve(LIMITS, tokens=tokens, cost=cost, lease=60)
                m = mem.reserve_now(LIMITS, tokens=tokens, cost=cost, lease_ms=60_000)
                assert d.reservation is not None and m.reservation is not None
                assert limiter.settle_now(d.reservation, tokens=used, cost=paid)
                assert d.reservation.settled
                mem.reconcile_now(m.reservation, tokens=used, cost=paid)
            await client.ping()  # replies come in order: the settlements are done
            return await shared.inspect(LIMITS), mem.inspect(LIMITS), limiter.stats.snapshot()
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()

    on_redis, in_memory, stats = asyncio.run(go())
    assert on_redis == in_memory
    assert on_redis[2] == 0  # every concurrency slot freed
    assert stats["lost_settlements"] == 0 and stats["redis_errors"] == 0


def test_settle_now_after_script_flush_loads_the_script() -> None:
    async def go() -> tuple[list[int], int]:
        clock = FakeClock()
        client = connect(REDIS_URL, timeout=2.0)
        prefix = unique_prefix()
        shared = RedisBackend(client, prefix=prefix, clock=clock)
        limiter = RateLimiter(MemoryBackend(clock), shared, clock=clock)
        try:
            d = await limiter.reserve(SLOTS1, tokens=5)
            assert d.reservation is not None
            await client.execute("SCRIPT", "FLUSH")
            assert limiter.settle_now(d.reservation, tokens=5)
            for _ in range(3):  # EVALSHA fails, then EVAL goes out from the callback
                await client.ping()
            return await shared.inspect(SLOTS1), limiter.stats.lost_settlements
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()

    assert asyncio.run(go()) == ([0], 0)


def test_a_failed_settlement_is_counted_and_degrades(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="brutor.limits")

    def handler(command: list[bytes]) -> Any:
        if command[0] == b"EVALSHA" and command[1] == sha(lua.RESERVE):
            return b"1 0 0 0"  # allowed (no per-minute limits to report)
        if command[0] == b"EVALSHA" and command[1] == sha(lua.RECONCILE):
            return DROP
        return default_handler(command)

    async def go() -> dict[str, object]:
        async with FakeRedis() as fake:
            fake.handler = handler
            clock = FakeClock()
            client = connect(fake.url, timeout=2.0)
            limiter = RateLimiter(MemoryBackend(clock), RedisBackend(client), clock=clock)
            d = await limiter.reserve(SLOTS1, tokens=5)
            assert d.reservation is not None and d.reservation.backend is not limiter._local
            assert limiter.settle_now(d.reservation, tokens=5)
            await asyncio.sleep(0.05)
            # Degraded now: the next settlement goes through reconcile (probe or lost), not the queue.
            d2 = await limiter.reserve(SLOTS1, tokens=5)
            assert d2.reservation is not None and d2.reservation.backend is limiter._local
            assert limiter.settle_now(d2.reservation, tokens=5)  # a local one
            await limiter.aclose()
            return limiter.stats.snapshot()

    stats = asyncio.run(go())
    assert (stats["lost_settlements"], stats["redis_errors"], stats["degraded"]) == (1, 1, True)
    assert len(caplog.records) == 1 and "ConnectionLost" in caplog.records[0].getMessage()


def test_settle_now_falls_back_to_reconcile_when_it_cannot_queue() -> None:
    async def go() -> None:
        clock = FakeClock()
        client = connect(REDIS_URL, timeout=2.0)
        prefix = unique_prefix()
        shared = RedisBackend(client, prefix=prefix, clock=clock)
        limiter = RateLimiter(MemoryBackend(clock), shared, clock=clock)
        try:
            d = await limiter.reserve(SLOTS1, tokens=5)
            assert d.reservation is not None
            await client.aclose()  # not connected any more: nothing can be queued without awaiting
            assert not limiter.settle_now(d.reservation, tokens=5)
            assert not d.reservation.settled
            await limiter.reconcile(d.reservation, tokens=5)  # reconnects
            assert d.reservation.settled and await shared.inspect(SLOTS1) == [0]
            assert limiter.settle_now(d.reservation, tokens=5)  # settled already: nothing to do
        finally:
            await delete_prefix(client, prefix)
            await client.aclose()

    asyncio.run(go())


def test_backends_that_need_the_engines_timer_are_not_settled_from_a_callback() -> None:
    class Timed(MemoryBackend):
        def bound(self, timeout: float) -> bool:
            return False

    async def go() -> None:
        shared = Timed()
        limiter = RateLimiter(MemoryBackend(), shared)
        d = await limiter.reserve(SLOTS1, tokens=1)
        assert d.reservation is not None and d.reservation.backend is shared
        assert not limiter.settle_now(d.reservation, tokens=1)
        await limiter.reconcile(d.reservation, tokens=1)
        assert shared.inspect(SLOTS1) == [0]

    asyncio.run(go())


def test_the_engine_timeout_becomes_the_clients() -> None:
    client = connect(REDIS_URL, timeout=5.0)
    RateLimiter(MemoryBackend(), RedisBackend(client), timeout=0.05)
    assert client.timeout == 0.05
