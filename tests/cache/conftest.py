"""Fixtures for the cache suite: an event loop per test, a clock to move by hand and a Redis client with
a unique key prefix (its keys deleted afterwards)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from cache_support import REDIS_URL, FakeClock

from brutor.limits.redis_client import RedisClient


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _purge(client: RedisClient, prefix: str) -> None:
    cursor = b"0"
    while True:
        cursor, keys = await client.execute("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
        if keys:
            await client.execute("DEL", *keys)
        if cursor == b"0":
            return


@pytest.fixture
def redis(runner: asyncio.Runner) -> Iterator[tuple[RedisClient, str]]:
    client = RedisClient(REDIS_URL, timeout=1.0)
    prefix = f"brutor:cache:test-{uuid.uuid4().hex[:12]}:"
    try:
        yield client, prefix
    finally:
        runner.run(_purge(client, prefix))
        runner.run(client.aclose())
