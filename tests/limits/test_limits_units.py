"""Pure parts: limit validation and compilation, calendar windows, header formatting, memory upkeep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from limits_support import FakeClock, scan_keys

from brutor.limits import (
    Decision,
    Denial,
    LimitKind,
    LimitSet,
    LimitSpec,
    MemoryBackend,
    MonotonicClock,
    RateInfo,
    format_duration,
    rate_limit_headers,
    retry_headers,
)
from brutor.limits.clock import CalendarWindows
from brutor.limits.redis_backend import RedisBackend
from brutor.limits.redis_client import RedisClient

K = LimitKind


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("kind", "limit"),
    [(K.RPM, 0), (K.TPM, 10**12), (K.TOKENS_PER_DAY, -1), (K.COST_PER_MONTH, 10**16)],
)
def test_limit_bounds(kind: LimitKind, limit: int) -> None:
    with pytest.raises(ValueError, match=kind.value):
        LimitSpec(kind, limit)


def test_limit_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        LimitSpec(K.RPM, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        LimitSpec(K.RPM, True)


def test_limit_set_keeps_the_tightest_of_duplicates_in_first_seen_order() -> None:
    ls = LimitSet(
        [
            ("key:a", LimitSpec(K.RPM, 10)),
            ("tenant:t", LimitSpec(K.TPM, 100)),
            ("key:a", LimitSpec(K.RPM, 5)),
            ("key:a", LimitSpec(K.RPM, 7)),
        ]
    )
    assert ls.specs() == [("key:a", LimitSpec(K.RPM, 5)), ("tenant:t", LimitSpec(K.TPM, 100))]
    assert [e.key for e in ls.entries] == ["{key:a}:rpm", "{tenant:t}:tpm"]
    assert not ls.needs_day and not ls.needs_month
    with pytest.raises(ValueError, match="subject"):
        LimitSet([("", LimitSpec(K.RPM, 1))])


def test_scaled_share_keeps_at_least_one_for_rates_and_slots() -> None:
    ls = LimitSet(
        [
            ("k", LimitSpec(K.RPM, 3)),
            ("k", LimitSpec(K.CONCURRENCY, 10)),
            ("k", LimitSpec(K.TOKENS_PER_DAY, 3)),
        ]
    )
    assert [e.limit for e in ls.scaled(0.25).entries] == [1, 2, 0]
    assert ls.scaled(0.25) is ls.scaled(0.25)
    assert ls.scaled(1.0) is ls


def test_memory_share_scales_limits() -> None:
    mem = MemoryBackend(FakeClock(), share=0.5)
    ls = LimitSet([("k", LimitSpec(K.RPM, 4))])
    allowed = [mem.reserve_now(ls, tokens=0, cost=0, lease_ms=1000).allowed for _ in range(3)]
    assert allowed == [True, True, False]
    with pytest.raises(ValueError):
        MemoryBackend(share=0.0)


@pytest.mark.parametrize(
    ("now", "day", "month"),
    [
        ("2025-03-14T12:00:00", ("2025-03-14", "2025-03-15T00:00:00"), ("2025-03", "2025-04-01T00:00:00")),
        ("2024-02-29T23:59:59.999", ("2024-02-29", "2024-03-01"), ("2024-02", "2024-03-01")),
        ("2025-12-31T23:59:59", ("2025-12-31", "2026-01-01"), ("2025-12", "2026-01-01")),
        ("2026-01-01T00:00:00", ("2026-01-01", "2026-01-02"), ("2026-01", "2026-02-01")),
    ],
)
def test_calendar_windows(now: str, day: tuple[str, str], month: tuple[str, str]) -> None:
    w = CalendarWindows()
    for _ in range(2):  # second call comes from the cache
        assert w.day(ms(now)) == (day[0], ms(day[1]))
        assert w.month(ms(now)) == (month[0], ms(month[1]))


def test_calendar_windows_follow_a_clock_going_back() -> None:
    w = CalendarWindows()
    assert w.day(ms("2025-03-14T12:00:00"))[0] == "2025-03-14"
    assert w.day(ms("2025-03-13T12:00:00"))[0] == "2025-03-13"


def test_monotonic_clock_is_epoch_ms() -> None:
    clock = MonotonicClock()
    a = clock()
    assert abs(a - datetime.now(UTC).timestamp() * 1000) < 1000
    assert clock() >= a


@pytest.mark.parametrize(
    ("ms_", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (17, "17ms"),
        (999, "999ms"),
        (1000, "1s"),
        (1500, "1.5s"),
        (8640, "8.64s"),
        (59_999, "59.999s"),
        (60_000, "1m0s"),
        (360_000, "6m0s"),
        (90_500, "1m30.5s"),
        (3_723_000, "1h2m3s"),
        (86_400_000, "24h0m0s"),
    ],
)
def test_format_duration_like_openai(ms_: int, text: str) -> None:
    assert format_duration(ms_) == text


def test_header_values() -> None:
    d = Decision(None, None, RateInfo(60, 59, 1000), RateInfo(150_000, 149_984, 6))
    assert rate_limit_headers(d) == (
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-limit-tokens", "150000"),
        ("x-ratelimit-remaining-tokens", "149984"),
        ("x-ratelimit-reset-tokens", "6ms"),
    )
    assert rate_limit_headers(Decision(None, None, None, None)) == ()
    deny = Denial("rate_limit_exceeded", K.TPM, "tenant:t", 1_500)
    assert retry_headers(deny) == (("retry-after", "2"), ("retry-after-ms", "1500"))
    assert retry_headers(deny._replace(retry_after_ms=0)) == ()
    assert deny.retry_after == 1.5
    assert "tpm limit for tenant:t" in deny.message() and "1.5s" in deny.message()
    assert "too large" in deny._replace(code="request_too_large").message()
    assert "Budget" in deny._replace(code="budget_exceeded").message()
    assert "cannot be checked" in Denial("limiter_unavailable", None, None, 1000).message()


def test_memory_sweep_forgets_only_empty_counters() -> None:
    clock = FakeClock()
    mem = MemoryBackend(clock, sweep_every=3)
    ls = LimitSet(
        [
            ("k", LimitSpec(K.RPM, 60)),
            ("k", LimitSpec(K.CONCURRENCY, 5)),
            ("k", LimitSpec(K.TOKENS_PER_DAY, 100)),
        ]
    )
    d = mem.reserve_now(ls, tokens=10, cost=0, lease_ms=500)
    mem.sweep(clock.now)
    assert mem.inspect(ls) == [60_000, 1, 10]
    clock.advance(1_000)  # the bucket drained and the lease ran out; the day goes on
    mem.sweep(clock.now)
    assert (len(mem._rates), len(mem._slots), len(mem._budgets)) == (0, 0, 1)
    assert mem.inspect(ls) == [0, 0, 10]
    clock.advance(86_400_000)
    mem.sweep(clock.now)
    assert len(mem._budgets) == 0
    mem.reconcile_now(d.reservation, tokens=0, cost=0)  # type: ignore[arg-type]
    for _ in range(4):  # the periodic sweep runs from reserve
        mem.reserve_now(ls, tokens=1, cost=0, lease_ms=1)
    assert mem.inspect(ls)[2] == 4


def test_noscript_falls_back_to_eval(runner: asyncio.Runner, redis_client: tuple[RedisClient, str]) -> None:
    client, prefix = redis_client
    backend = RedisBackend(client, prefix=prefix, clock=FakeClock())
    ls = LimitSet([("k", LimitSpec(K.RPM, 2))])

    async def go() -> list[bool]:
        await client.execute("SCRIPT", "FLUSH")
        first = await backend.reserve(ls, tokens=0, cost=0, lease_ms=1000)
        second = await backend.reserve(ls, tokens=0, cost=0, lease_ms=1000)  # now via EVALSHA
        await client.execute("SCRIPT", "FLUSH")
        third = await backend.reserve(ls, tokens=0, cost=0, lease_ms=1000)
        return [first.allowed, second.allowed, third.allowed]

    assert runner.run(go()) == [True, True, False]


def test_redis_keys_are_namespaced_hash_tagged_and_expire(
    runner: asyncio.Runner, redis_client: tuple[RedisClient, str]
) -> None:
    client, prefix = redis_client
    clock = FakeClock(ms("2025-03-14T12:00:00"))
    backend = RedisBackend(client, prefix=prefix, clock=clock, budget_grace_ms=1000)
    ls = LimitSet(
        [
            ("key:a", LimitSpec(K.RPM, 60)),
            ("key:a", LimitSpec(K.CONCURRENCY, 2)),
            ("tenant:t|model:m", LimitSpec(K.TOKENS_PER_DAY, 100)),
            ("tenant:t", LimitSpec(K.COST_PER_MONTH, 100)),
        ]
    )

    async def go() -> dict[str, int]:
        await backend.reserve(ls, tokens=5, cost=5, lease_ms=30_000)
        keys = await scan_keys(client, f"{prefix}*")
        return {k.decode()[len(prefix) :]: await client.execute("PTTL", k) for k in keys}

    ttls = runner.run(go())
    assert set(ttls) == {
        "{key:a}:rpm",
        "{key:a}:concurrency",
        "{tenant:t|model:m}:tokens_per_day:2025-03-14",
        "{tenant:t}:cost_per_month:2025-03",
    }
    assert 10_000 < ttls["{key:a}:rpm"] <= 11_000  # drain time (1 s) + slack
    assert 30_000 < ttls["{key:a}:concurrency"] <= 31_000
    assert 12 * 3_600_000 < ttls["{tenant:t|model:m}:tokens_per_day:2025-03-14"] <= 12 * 3_600_000 + 1000
    assert ttls["{tenant:t}:cost_per_month:2025-03"] > 17 * 86_400_000
