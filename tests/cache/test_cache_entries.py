"""Entry stores: absolute TTL, LRU bound (memory), tenant isolation and invalidation, on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from cache_support import FakeClock

from brutor.cache.entries import Entry, MemoryEntries, decode_entry, encode_entry
from brutor.cache.errors import CacheUnavailable
from brutor.cache.redis_entries import RedisEntries
from brutor.limits.redis_client import RedisClient


async def raw(client: RedisClient, *args: str | bytes | int) -> Any:
    return await client.execute(*args)


BODY = b'{"id":"chatcmpl-1","object":"chat.completion","choices":[]}'


def entry(tenant: str = "t1", model: str = "gpt-4o", body: bytes = BODY) -> Entry:
    return Entry(tenant, model, body, prompt_tokens=12, completion_tokens=3, created=1.7e9)


@pytest.fixture(params=["memory", "redis"])
def store(request: Any, runner: asyncio.Runner, clock: FakeClock) -> Iterator[MemoryEntries | RedisEntries]:
    if request.param == "memory":
        yield MemoryEntries(100, clock=clock)
    else:
        client, prefix = request.getfixturevalue("redis")
        yield RedisEntries(client, prefix)


def test_codec_round_trip_keeps_the_body_bytes() -> None:
    e = Entry("t:1", "m", b'{"a":"x\\ny"}\n', 1, 2, 3.5, "minilm@abc")
    assert decode_entry(encode_entry(e)) == e
    assert decode_entry(b"garbage") is None
    assert decode_entry(b'{"tenant":1}\nbody') is None


def test_put_then_get(store: MemoryEntries | RedisEntries, runner: asyncio.Runner) -> None:
    runner.run(store.put("k", entry(), 60))
    assert runner.run(store.get("t1", "gpt-4o", "k")) == entry()
    assert runner.run(store.get("t1", "gpt-4o", "other")) is None
    assert runner.run(store.get("t1", "gpt-4o-mini", "k")) is None


def test_same_key_two_tenants_never_cross(
    store: MemoryEntries | RedisEntries, runner: asyncio.Runner
) -> None:
    runner.run(store.put("k", entry("t1", body=b"one"), 60))
    assert runner.run(store.get("t2", "gpt-4o", "k")) is None
    runner.run(store.put("k", entry("t2", body=b"two"), 60))
    got1, got2 = runner.run(store.get("t1", "gpt-4o", "k")), runner.run(store.get("t2", "gpt-4o", "k"))
    assert got1 is not None and got1.body == b"one"
    assert got2 is not None and got2.body == b"two"


def test_forced_slot_collision_still_isolates(
    store: MemoryEntries | RedisEntries, runner: asyncio.Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every (tenant, model, key) lands in one slot: only the value's own tenant check stands between.
    fixed = store.slot("t1", "gpt-4o", "k")
    monkeypatch.setattr(store, "slot", lambda tenant, model, key: fixed)
    runner.run(store.put("k", entry("t1"), 60))
    assert runner.run(store.get("t2", "gpt-4o", "k")) is None
    assert runner.run(store.get("t1", "gpt-4o-mini", "k")) is None
    assert runner.run(store.invalidate_entry("t2", "gpt-4o", "k")) == 0
    assert runner.run(store.get("t1", "gpt-4o", "k")) == entry("t1")


def test_invalidate_entry_tenant_and_model(
    store: MemoryEntries | RedisEntries, runner: asyncio.Runner
) -> None:
    for tenant in ("t1", "t2", "a:*?[x]"):
        for model in ("m1", "m2"):
            for k in ("k1", "k2"):
                runner.run(store.put(k, entry(tenant, model), 60))

    def alive(tenant: str, model: str, k: str) -> bool:
        return runner.run(store.get(tenant, model, k)) is not None

    assert runner.run(store.invalidate_entry("t1", "m1", "k1")) == 1
    assert not alive("t1", "m1", "k1") and alive("t1", "m1", "k2")
    assert runner.run(store.invalidate_entry("t1", "m1", "k1")) == 0

    assert runner.run(store.invalidate_model("m2", tenant="t2")) == 2
    assert not alive("t2", "m2", "k1") and alive("t1", "m2", "k1") and alive("t2", "m1", "k1")

    # Glob characters in a tenant name match only that tenant.
    assert runner.run(store.invalidate_tenant("a:*?[x]")) == 4
    assert alive("t1", "m1", "k2") and alive("t2", "m1", "k1")

    assert runner.run(store.invalidate_model("m2")) == 2  # t1's two (t2's went above)
    assert not alive("t1", "m2", "k2")
    assert runner.run(store.invalidate_tenant("t1")) == 1
    assert runner.run(store.invalidate_tenant("t2")) == 2
    assert runner.run(store.invalidate_tenant("t2")) == 0


# memory only


def test_memory_ttl_is_absolute(runner: asyncio.Runner, clock: FakeClock) -> None:
    store = MemoryEntries(10, clock=clock)
    runner.run(store.put("k", entry(), 10))
    clock.now += 9
    assert runner.run(store.get("t1", "gpt-4o", "k")) is not None  # a hit ...
    clock.now += 0.999
    assert runner.run(store.get("t1", "gpt-4o", "k")) is not None
    clock.now += 0.001  # ... does not extend it
    assert runner.run(store.get("t1", "gpt-4o", "k")) is None
    assert len(store) == 0


def test_memory_is_lru_bounded(runner: asyncio.Runner, clock: FakeClock) -> None:
    store = MemoryEntries(2, clock=clock)
    runner.run(store.put("a", entry(), 60))
    runner.run(store.put("b", entry(), 60))
    assert runner.run(store.get("t1", "gpt-4o", "a")) is not None  # a is now the most recent
    runner.run(store.put("c", entry(), 60))
    assert len(store) == 2
    assert runner.run(store.get("t1", "gpt-4o", "b")) is None
    assert runner.run(store.get("t1", "gpt-4o", "a")) is not None
    assert runner.run(store.get("t1", "gpt-4o", "c")) is not None


def test_memory_rejects_bad_bounds(runner: asyncio.Runner) -> None:
    with pytest.raises(ValueError):
        MemoryEntries(0)
    with pytest.raises(ValueError):
        runner.run(MemoryEntries(1).put("k", entry(), 0))


# redis only


def test_redis_ttl_is_absolute(redis: tuple[RedisClient, str], runner: asyncio.Runner) -> None:
    client, prefix = redis
    store = RedisEntries(client, prefix)
    runner.run(store.put("k", entry(), 60))
    first = runner.run(store.ttl_ms("t1", "gpt-4o", "k"))
    assert 59_000 < first <= 60_000
    runner.run(asyncio.sleep(0.05))
    for _ in range(5):
        assert runner.run(store.get("t1", "gpt-4o", "k")) is not None
    later = runner.run(store.ttl_ms("t1", "gpt-4o", "k"))
    assert later <= first - 40  # the hits did not reset it
    assert runner.run(store.ttl_ms("t1", "gpt-4o", "absent")) == -2


def test_redis_entry_expires(redis: tuple[RedisClient, str], runner: asyncio.Runner) -> None:
    client, prefix = redis
    store = RedisEntries(client, prefix)
    runner.run(store.put("k", entry(), 0.05))
    runner.run(asyncio.sleep(0.12))
    assert runner.run(store.get("t1", "gpt-4o", "k")) is None


def test_redis_keys_stay_under_the_prefix(redis: tuple[RedisClient, str], runner: asyncio.Runner) -> None:
    client, prefix = redis
    store = RedisEntries(client, prefix)
    runner.run(store.put("k", entry("te:nant"), 60))
    _, keys = runner.run(raw(client, "SCAN", 0, "MATCH", prefix + "*", "COUNT", 10_000))
    assert keys == [f"{prefix}te%3Anant:gpt-4o:k".encode()]


def test_redis_foreign_value_is_a_miss(redis: tuple[RedisClient, str], runner: asyncio.Runner) -> None:
    client, prefix = redis
    store = RedisEntries(client, prefix)
    runner.run(raw(client, "SET", store.slot("t1", "gpt-4o", "k"), b"not an entry"))
    assert runner.run(store.get("t1", "gpt-4o", "k")) is None


def test_dead_redis_raises_cache_unavailable(runner: asyncio.Runner) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        client = RedisClient(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        store = RedisEntries(client, "brutor:cache:dead:")
        for op in (
            store.get("t1", "m", "k"),
            store.put("k", entry(), 60),
            store.invalidate_entry("t1", "m", "k"),
            store.invalidate_tenant("t1"),
            store.invalidate_model("m"),
        ):
            with pytest.raises(CacheUnavailable):
                runner.run(op)
        runner.run(client.aclose())
