"""Fixtures for the limits suite: an event loop per test, a Redis client with a unique key prefix (deleted
afterwards), and ``backend``, which runs a test once on each backend."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from limits_support import REDIS_URL, FakeClock, Harness, delete_prefix, unique_prefix

from brutor.limits import MemoryBackend
from brutor.limits.redis_backend import RedisBackend, connect
from brutor.limits.redis_client import RedisClient


@pytest.fixture
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as r:
        yield r


@pytest.fixture
def redis_client(runner: asyncio.Runner) -> Iterator[tuple[RedisClient, str]]:
    """A client on the test's loop and a fresh key prefix, removed after the test."""
    client = connect(REDIS_URL, timeout=1.0)
    prefix = unique_prefix()
    try:
        yield client, prefix
    finally:
        runner.run(delete_prefix(client, prefix))
        runner.run(client.aclose())


@pytest.fixture(params=["memory", "redis"])
def backend(request: Any, runner: asyncio.Runner) -> Iterator[Harness]:
    clock = FakeClock()
    if request.param == "memory":
        yield Harness(MemoryBackend(clock), runner, clock)
        return
    client, prefix = request.getfixturevalue("redis_client")
    yield Harness(RedisBackend(client, prefix=prefix, clock=clock), runner, clock)
