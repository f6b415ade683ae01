"""Shared store unreachable or slow: fail_open decides locally, fail_closed denies; one log per change."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from limits_support import FakeClock

from brutor.limits import (
    UNAVAILABLE,
    BackendUnavailable,
    Decision,
    FailPolicy,
    LimitKind,
    LimitSet,
    LimitSpec,
    MemoryBackend,
    RateLimiter,
    Reservation,
)
from brutor.limits.backend import Settled
from brutor.limits.redis_backend import RedisBackend, connect
from brutor.limits.redis_client import RedisClient

RPM3 = LimitSet([("key:a", LimitSpec(LimitKind.RPM, 3))])
SLOTS1 = LimitSet([("key:a", LimitSpec(LimitKind.CONCURRENCY, 1))])


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO, logger="brutor.limits")
    yield caplog


class Flaky:
    """A shared backend (a MemoryBackend underneath) that can be switched off."""

    def __init__(self, clock: FakeClock) -> None:
        self.inner = MemoryBackend(clock)
        self.down = False
        self.calls = 0

    def bound(self, timeout: float) -> bool:
        return False  # the engine times its calls

    def settle_nowait(self, reservation: Reservation, *, tokens: int, cost: int, done: Settled) -> bool:
        return False  # never asked: only self-bounded backends are settled from a callback

    async def aclose(self) -> None:
        pass

    async def reserve(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        self.calls += 1
        if self.down:
            raise BackendUnavailable("ConnectionError: refused")
        decision = await self.inner.reserve(limits, tokens=tokens, cost=cost, lease_ms=lease_ms)
        if decision.reservation is not None:
            decision.reservation.backend = self  # as a real shared backend would
        return decision

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        self.calls += 1
        if self.down:
            raise BackendUnavailable("ConnectionError: refused")
        await self.inner.reconcile(reservation, tokens=tokens, cost=cost)


def closed_port_limiter(policy: FailPolicy, clock: FakeClock) -> tuple[RateLimiter, RedisClient]:
    client = connect("redis://127.0.0.1:1/0", timeout=0.05)  # nothing listens on port 1
    shared = RedisBackend(client, prefix="brutor:rl:never:")
    return RateLimiter(MemoryBackend(clock), shared, policy=policy, timeout=0.1, clock=clock), client


def test_fail_open_decides_locally_and_logs_once(log: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    limiter, client = closed_port_limiter("fail_open", clock)

    async def go() -> list[bool]:
        out = [(await limiter.reserve(RPM3, tokens=0)).allowed for _ in range(5)]
        clock.advance(1_000)  # the retry interval passes: one probe, which fails again
        out.append((await limiter.reserve(RPM3, tokens=0)).allowed)
        await client.aclose()
        return out

    assert asyncio.run(go()) == [True, True, True, False, False, False]
    s = limiter.stats
    assert (s.redis_errors, s.fallbacks, s.degraded, s.denials) == (2, 6, True, {"rpm": 3})
    warnings = [r for r in log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "unavailable" in warnings[0].getMessage() and "deciding locally" in warnings[0].getMessage()


def test_fail_closed_denies_with_its_own_reason(log: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    limiter, client = closed_port_limiter("fail_closed", clock)

    async def go() -> list[Decision]:
        out = [await limiter.reserve(RPM3, tokens=0) for _ in range(4)]
        await client.aclose()
        return out

    decisions = asyncio.run(go())
    for d in decisions:
        assert d.denial is not None
        assert (d.denial.code, d.denial.kind, d.denial.subject) == (UNAVAILABLE, None, None)
    assert limiter.stats.denials == {UNAVAILABLE: 4}
    assert limiter.stats.fallbacks == 0
    assert len(log.records) == 1 and "denying requests" in log.records[0].getMessage()


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never answers: a Redis that hangs."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for w in held:
            w.close()
        await server.wait_closed()


def test_slow_store_times_out_quickly_then_is_skipped(log: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()

    async def go() -> tuple[list[float], RateLimiter]:
        async with silent_server() as port:
            client = connect(f"redis://127.0.0.1:{port}/0", timeout=5.0)  # the engine's timeout must win
            limiter = RateLimiter(
                MemoryBackend(clock), RedisBackend(client), policy="fail_open", timeout=0.05, clock=clock
            )
            took = []
            for _ in range(3):
                t = time.perf_counter()
                assert (await limiter.reserve(RPM3, tokens=0)).allowed
                took.append(time.perf_counter() - t)
            await client.aclose()
            return took, limiter

    took, limiter = asyncio.run(go())
    assert 0.04 < took[0] < 0.5
    assert max(took[1:]) < 0.01  # skipped while degraded
    assert limiter.stats.redis_errors == 1 and limiter.stats.fallbacks == 3
    assert len(log.records) == 1 and "timed out" in log.records[0].getMessage()


def test_recovery_is_logged_once_and_reservations_settle_where_they_were_made(
    log: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    shared = Flaky(clock)
    local = MemoryBackend(clock)
    limiter = RateLimiter(local, shared, policy="fail_open", retry_interval=1.0, clock=clock)

    async def go() -> None:
        on_shared = await limiter.reserve(SLOTS1, tokens=10)
        assert on_shared.reservation is not None and on_shared.reservation.backend is shared
        shared.down = True
        on_local = await limiter.reserve(SLOTS1, tokens=10)  # local slot is free
        assert on_local.reservation is not None and on_local.reservation.backend is local
        assert not (await limiter.reserve(SLOTS1, tokens=10)).allowed
        calls = shared.calls
        await limiter.reconcile(on_shared.reservation, tokens=5)  # degraded: not even tried
        assert shared.calls == calls and limiter.stats.lost_settlements == 1
        shared.down = False
        assert not (await limiter.reserve(SLOTS1, tokens=10)).allowed  # still inside the retry interval
        assert shared.calls == calls
        clock.advance(1_000)
        # The probe reaches the shared store again; its slot is still held (the lost settlement), so
        # this is denied by the shared store, which proves the answer came from there.
        d = await limiter.reserve(SLOTS1, tokens=10)
        assert shared.calls == calls + 1 and not d.allowed and not limiter.stats.degraded
        await limiter.reconcile(on_local.reservation, tokens=5)  # settles on the local backend
        assert local.inspect(SLOTS1) == [0]
        clock.advance(900_000)  # the shared slot's lease (DEFAULT_LEASE) runs out
        assert (await limiter.reserve(SLOTS1, tokens=10)).allowed

    asyncio.run(go())
    assert [(r.levelname, "again" in r.getMessage()) for r in log.records] == [
        ("WARNING", False),
        ("INFO", True),
    ]


def test_reconcile_failure_is_counted_not_raised(log: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    shared = Flaky(clock)
    limiter = RateLimiter(MemoryBackend(clock), shared, clock=clock)

    async def go() -> None:
        d = await limiter.reserve(SLOTS1, tokens=10)
        assert d.reservation is not None
        shared.down = True
        await limiter.reconcile(d.reservation, tokens=3)
        await limiter.reconcile(d.reservation, tokens=3)  # already settled (lost): no second attempt

    asyncio.run(go())
    assert (limiter.stats.lost_settlements, limiter.stats.redis_errors) == (1, 1)
    assert limiter.stats.degraded and len(log.records) == 1


def test_local_only_limiter_and_argument_checks() -> None:
    clock = FakeClock()
    limiter = RateLimiter(MemoryBackend(clock))

    async def go() -> None:
        d = await limiter.reserve(RPM3, tokens=5, lease=1.0)
        assert d.reservation is not None
        await limiter.release(d.reservation)
        with pytest.raises(ValueError):
            await limiter.reserve(RPM3, tokens=-1)
        with pytest.raises(ValueError):
            await limiter.reserve(RPM3, tokens=0, cost=10**10)

    asyncio.run(go())
    assert limiter.stats.snapshot() == {
        "redis_errors": 0,
        "fallbacks": 0,
        "lost_settlements": 0,
        "degraded": False,
        "denials": {},
    }


def test_no_limits_never_touch_the_shared_store(log: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    shared = Flaky(clock)
    shared.down = True
    limiter = RateLimiter(MemoryBackend(clock), shared, policy="fail_closed", clock=clock)

    async def go() -> None:
        d = await limiter.reserve(LimitSet([]), tokens=10)
        assert d.allowed and d.reservation is not None
        await limiter.reconcile(d.reservation, tokens=10)
        with pytest.raises(ValueError, match="lease"):
            await limiter.reserve(RPM3, tokens=0, lease=0)

    asyncio.run(go())
    assert shared.calls == 0 and not limiter.stats.degraded and not log.records


def test_reconcile_clamps_upstream_usage_instead_of_raising() -> None:
    clock = FakeClock()
    local = MemoryBackend(clock)
    limiter = RateLimiter(local)
    tpm = LimitSet([("key:a", LimitSpec(LimitKind.TPM, 100))])

    async def go() -> None:
        d = await limiter.reserve(tpm, tokens=50)
        assert d.reservation is not None
        await limiter.reconcile(d.reservation, tokens=-5)

    asyncio.run(go())
    assert local.inspect(tpm) == [0]
