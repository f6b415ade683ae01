"""Cost of reserve + reconcile: ``python tests/limits/bench_limits.py`` (needs Redis on 127.0.0.1:6379).

Not a test (no timing assertions): it checks the decisions it times, then prints per-operation costs.
"""

from __future__ import annotations

import asyncio
import time
import timeit
import uuid
from collections.abc import Callable

from limits_support import delete_prefix

from brutor.limits import LimitKind, LimitSet, LimitSpec, MemoryBackend, RateLimiter
from brutor.limits.redis_backend import RedisBackend, connect

K = LimitKind
BIG = 10**11
TYPICAL = LimitSet(
    [
        ("key:k1", LimitSpec(K.RPM, BIG)),
        ("key:k1", LimitSpec(K.TPM, BIG)),
        ("key:k1", LimitSpec(K.CONCURRENCY, 10**6)),
        ("tenant:acme", LimitSpec(K.TOKENS_PER_DAY, 10**15)),
        ("tenant:acme", LimitSpec(K.COST_PER_MONTH, 10**15)),
    ]
)
ONE = LimitSet([("key:k1", LimitSpec(K.RPM, BIG))])


def bench_memory(limits: LimitSet) -> float:
    mem = MemoryBackend()

    def pair() -> None:
        d = mem.reserve_now(limits, tokens=500, cost=1000, lease_ms=600_000)
        assert d.reservation is not None
        mem.reconcile_now(d.reservation, tokens=300, cost=600)

    return best_us(pair)


async def bench_engine(limits: LimitSet, n: int = 100_000) -> float:
    limiter = RateLimiter(MemoryBackend())
    t = time.perf_counter()
    for _ in range(n):
        d = await limiter.reserve(limits, tokens=500, cost=1000, lease=600)
        assert d.reservation is not None
        await limiter.reconcile(d.reservation, tokens=300, cost=600)
    return (time.perf_counter() - t) / n * 1e6


async def bench_redis(limits: LimitSet, n: int = 1_500, rounds: int = 5) -> tuple[float, float, float, float]:
    """Sequential reserve+reconcile pairs: best-of-rounds wall and client CPU per pair, and the same for a
    bare PING (the client library's floor per round trip)."""
    client = connect("redis://127.0.0.1:6379/0", timeout=1.0)
    prefix = f"brutor:rl:bench-{uuid.uuid4().hex[:8]}:"
    backend = RedisBackend(client, prefix=prefix)
    limiter = RateLimiter(MemoryBackend(), backend, timeout=1.0)
    await client.ping()
    best = [float("inf")] * 4
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            d = await limiter.reserve(limits, tokens=500, cost=1000, lease=600)
            assert d.reservation is not None and d.reservation.backend is backend
            await limiter.reconcile(d.reservation, tokens=300, cost=600)
        c1, w1 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await client.ping()
        c2, w2 = time.process_time(), time.perf_counter()
        sample = [(w1 - w0) / n, (c1 - c0) / n, (w2 - w1) / n, (c2 - c1) / n]
        best = [min(b, x * 1e6) for b, x in zip(best, sample, strict=True)]
    await delete_prefix(client, prefix)
    await client.aclose()
    return best[0], best[1], best[2], best[3]


async def bench_redis_concurrent(limits: LimitSet, n: int = 3_000, in_flight: int = 16) -> float:
    client = connect("redis://127.0.0.1:6379/0", timeout=1.0)
    prefix = f"brutor:rl:bench-{uuid.uuid4().hex[:8]}:"
    limiter = RateLimiter(MemoryBackend(), RedisBackend(client, prefix=prefix), timeout=1.0)
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            d = await limiter.reserve(limits, tokens=500, cost=1000, lease=600)
            assert d.reservation is not None
            await limiter.reconcile(d.reservation, tokens=300, cost=600)

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    rate = n / (time.perf_counter() - t)
    await delete_prefix(client, prefix)
    await client.aclose()
    return rate


def best_us(fn: Callable[[], object], n: int = 20_000, rounds: int = 7) -> float:
    return min(timeit.repeat(fn, number=n, repeat=rounds)) / n * 1e6


def main() -> None:
    for name, limits in (("5 limits", TYPICAL), ("1 limit", ONE)):
        print(f"memory backend, {name}: {bench_memory(limits):.2f} us per reserve+reconcile (best of 7)")
    print(f"RateLimiter (async) over memory, 5 limits: {asyncio.run(bench_engine(TYPICAL)):.2f} us")
    for name, limits in (("5 limits", TYPICAL), ("1 limit", ONE)):
        wall, cpu, ping_wall, ping_cpu = asyncio.run(bench_redis(limits))
        print(
            f"redis, {name}, sequential: {wall:.0f} us wall, {cpu:.0f} us client CPU per reserve+reconcile"
            f" (a bare PING: {ping_wall:.0f} us wall, {ping_cpu:.0f} us CPU)"
        )
    rate = asyncio.run(bench_redis_concurrent(TYPICAL))
    print(f"redis, 5 limits, 16 in flight: {rate:.0f} reserve+reconcile pairs/s")


if __name__ == "__main__":
    main()
