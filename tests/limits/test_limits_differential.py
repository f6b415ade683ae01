"""Random operation sequences: Redis and memory agree on every decision and counter, and no sequence
lets counters go negative or admits more than a limit allows."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from limits_support import REDIS_URL, FakeClock, delete_prefix, unique_prefix

from brutor.limits import Decision, LimitKind, LimitSet, LimitSpec, MemoryBackend, Reservation
from brutor.limits.redis_backend import RedisBackend, connect

K = LimitKind
# 2025-01-31T20:00Z: four hours before both a day and a month end.
START = 1_738_353_600_000
DAY_MS = 86_400_000

RPM, SLOTS, DAY_TOKENS = 5, 3, 2_000
SETS = [
    LimitSet(
        [
            ("key:a", LimitSpec(K.RPM, RPM)),
            ("key:a", LimitSpec(K.CONCURRENCY, SLOTS)),
            ("tenant:t", LimitSpec(K.TPM, 600)),
            ("tenant:t", LimitSpec(K.TOKENS_PER_DAY, DAY_TOKENS)),
            ("tenant:t", LimitSpec(K.COST_PER_MONTH, 3_000)),
        ]
    ),
    LimitSet(
        [
            ("key:b", LimitSpec(K.RPM, 3)),
            ("tenant:t", LimitSpec(K.TPM, 600)),
            ("tenant:t", LimitSpec(K.CONCURRENCY, 4)),
            ("tenant:t|model:m", LimitSpec(K.TOKENS_PER_MONTH, 5_000)),
            ("tenant:t", LimitSpec(K.COST_PER_DAY, 1_000)),
        ]
    ),
]


@dataclass(frozen=True)
class Reserve:
    which: int  # index into SETS
    tokens: int
    cost: int
    lease_ms: int


@dataclass(frozen=True)
class Settle:
    which: int  # any int: taken modulo the reservations held
    tokens: int
    cost: int


@dataclass(frozen=True)
class Advance:
    ms: int


Op = Reserve | Settle | Advance

# Round amounts hit limits exactly (the <= boundaries); arbitrary ones exercise the integer arithmetic.
amounts = st.sampled_from([0, 1, 100, 200, 300, 400, 500, 600]) | st.integers(0, 700)
ops = st.lists(
    st.one_of(
        st.builds(Reserve, st.integers(0, len(SETS) - 1), amounts, amounts, st.integers(1, 120_000)),
        st.builds(Settle, st.integers(0, 1_000), amounts, amounts),
        st.builds(Advance, st.sampled_from([0, 1, 999, 1_000, 12_000, 20_000, 60_000, 3_600_000, DAY_MS])),
    ),
    max_size=40,
)


def outcome(d: Decision) -> tuple[object, ...]:
    return (d.allowed, d.denial, d.requests, d.tokens)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_redis_and_memory_decide_alike(sequence: list[Op]) -> None:
    asyncio.run(_differential(sequence))


async def _differential(sequence: list[Op]) -> None:
    clock = FakeClock(START)
    client = connect(REDIS_URL, timeout=1.0)
    prefix = unique_prefix()
    mem, red = MemoryBackend(clock), RedisBackend(client, prefix=prefix, clock=clock)
    held: list[tuple[Reservation, Reservation]] = []
    try:
        for op in sequence:
            if isinstance(op, Reserve):
                limits = SETS[op.which]
                a = mem.reserve_now(limits, tokens=op.tokens, cost=op.cost, lease_ms=op.lease_ms)
                b = await red.reserve(limits, tokens=op.tokens, cost=op.cost, lease_ms=op.lease_ms)
                assert outcome(a) == outcome(b), op
                if a.reservation is not None and b.reservation is not None:
                    held.append((a.reservation, b.reservation))
            elif isinstance(op, Settle) and held:
                ra, rb = held[op.which % len(held)]
                mem.reconcile_now(ra, tokens=op.tokens, cost=op.cost)
                await red.reconcile(rb, tokens=op.tokens, cost=op.cost)
            elif isinstance(op, Advance):
                clock.advance(op.ms)
            for limits in SETS:
                assert mem.inspect(limits) == await red.inspect(limits), op
    finally:
        await delete_prefix(client, prefix)
        await client.aclose()


@dataclass
class Oracle:
    """What the limits promise, tracked independently of how a backend counts."""

    now: int = START
    rpm_times: list[int] = field(default_factory=list)
    slots: dict[int, int] = field(default_factory=dict)  # reservation -> lease expiry
    day_charge: dict[int, tuple[int, int]] = field(default_factory=dict)  # reservation -> (day, tokens)

    def day_used(self) -> int:
        today = self.now // DAY_MS
        return sum(t for day, t in self.day_charge.values() if day == today)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_any_interleaving_keeps_counters_sane(sequence: list[Op]) -> None:
    clock = FakeClock(START)
    mem = MemoryBackend(clock, sweep_every=7)
    limits = SETS[0]
    oracle = Oracle()
    held: list[tuple[int, Reservation]] = []
    for n, op in enumerate(sequence):
        if isinstance(op, Reserve):
            used_before = oracle.day_used()
            d = mem.reserve_now(limits, tokens=op.tokens, cost=op.cost, lease_ms=op.lease_ms)
            if d.reservation is not None:
                assert used_before + op.tokens <= DAY_TOKENS
                oracle.rpm_times.append(clock.now)
                oracle.slots[n] = clock.now + op.lease_ms
                oracle.day_charge[n] = (clock.now // DAY_MS, op.tokens)
                held.append((n, d.reservation))
        elif isinstance(op, Settle) and held:
            n_, res = held[op.which % len(held)]
            if not res.settled:
                oracle.slots.pop(n_)
                oracle.day_charge[n_] = (oracle.day_charge[n_][0], op.tokens)
            mem.reconcile_now(res, tokens=op.tokens, cost=op.cost)
        elif isinstance(op, Advance):
            clock.advance(op.ms)
            oracle.now = clock.now
        counters = mem.inspect(limits)
        assert all(c >= 0 for c in counters), counters
        live = sum(exp > clock.now for exp in oracle.slots.values())
        assert live <= SLOTS and counters[1] == live
        assert counters[3] == oracle.day_used()
    # A bucket of RPM refilled at RPM per minute: any span of requests fits burst + refill.
    times = oracle.rpm_times
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= RPM + (times[j] - times[i]) * RPM // 60_000
