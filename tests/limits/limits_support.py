"""Helpers for the limits suite: a controllable clock, each backend behind one synchronous harness, and
unique Redis key prefixes (the real server at 127.0.0.1:6379) with their clean-up."""

from __future__ import annotations

import asyncio
import uuid

from brutor.limits import Decision, LimitSet, MemoryBackend, Reservation
from brutor.limits.redis_backend import RedisBackend
from brutor.limits.redis_client import RedisClient

REDIS_URL = "redis://127.0.0.1:6379/0"
# 2025-03-14T12:00:00Z: mid-day, mid-month, so tests that need a boundary move there explicitly.
T0 = 1_741_953_600_000


class FakeClock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


class Harness:
    """One backend, called synchronously (each call runs on the harness' own event loop)."""

    def __init__(self, backend: MemoryBackend | RedisBackend, runner: asyncio.Runner, clock: FakeClock):
        self.backend = backend
        self.runner = runner
        self.clock = clock
        self.name = "memory" if isinstance(backend, MemoryBackend) else "redis"

    def reserve(self, limits: LimitSet, tokens: int = 0, cost: int = 0, lease_ms: int = 60_000) -> Decision:
        return self.runner.run(self.backend.reserve(limits, tokens=tokens, cost=cost, lease_ms=lease_ms))

    def reconcile(self, reservation: Reservation | None, tokens: int = 0, cost: int = 0) -> None:
        assert reservation is not None
        self.runner.run(self.backend.reconcile(reservation, tokens=tokens, cost=cost))

    def inspect(self, limits: LimitSet) -> list[int]:
        if isinstance(self.backend, MemoryBackend):
            return self.backend.inspect(limits)
        return self.runner.run(self.backend.inspect(limits))


async def scan_keys(client: RedisClient, pattern: str) -> list[bytes]:
    found: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, keys = await client.execute("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
        found += keys
        if cursor == b"0":
            return found


async def delete_prefix(client: RedisClient, prefix: str) -> None:
    keys = await scan_keys(client, f"{prefix}*")
    if keys:
        await client.execute("DEL", *keys)


async def purge(prefix: str) -> None:
    client = RedisClient(REDIS_URL, timeout=2.0)
    try:
        await delete_prefix(client, prefix)
    finally:
        await client.aclose()


def unique_prefix() -> str:
    return f"brutor:rl:test-{uuid.uuid4().hex[:12]}:"
