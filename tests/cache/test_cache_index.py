"""Vector indexes: nearest above the threshold, tenant and embedder isolation, expiry and removal, on
the embedded index and on Qdrant (local mode)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from cache_support import DIMS, FakeClock, near, unit
from qdrant_client import AsyncQdrantClient

from brutor.cache.errors import CacheUnavailable
from brutor.cache.index import MemoryIndex
from brutor.cache.qdrant_index import QdrantIndex

EMB = "all-MiniLM-L6-v2/int8-onnx@0123456789abcdef"
EMB2 = "all-MiniLM-L6-v2/fp32-onnx@fedcba9876543210"
TTL = 3600.0

Index = MemoryIndex | QdrantIndex


@pytest.fixture(params=["memory", "qdrant"])
def index(request: Any, runner: asyncio.Runner, clock: FakeClock) -> Iterator[Index]:
    if request.param == "memory":
        yield MemoryIndex(1000, clock=clock)
        return
    client = AsyncQdrantClient(":memory:")
    try:
        yield QdrantIndex(client, dims=DIMS, payload_indexes=False, clock=clock)
    finally:
        runner.run(client.close())


def add(
    runner: asyncio.Runner, index: Index, tenant: str, scope: str, seed: int, key: str, emb: str = EMB
) -> None:
    runner.run(index.add(tenant, "gpt-4o", scope, unit(seed).tobytes(), key, emb, TTL))


def test_nearest_above_threshold(index: Index, runner: asyncio.Runner) -> None:
    add(runner, index, "t1", "s", 1, "e1")
    add(runner, index, "t1", "s", 2, "e2")
    hit = runner.run(index.search("t1", "s", near(unit(1), 0.95), 0.9, EMB))
    assert hit is not None and hit[0] == "e1" and hit[1] == pytest.approx(0.95, abs=1e-3)
    hit = runner.run(index.search("t1", "s", unit(2), 0.9, EMB))
    assert hit is not None and hit[0] == "e2" and hit[1] == pytest.approx(1.0, abs=1e-4)


def test_below_threshold_is_none(index: Index, runner: asyncio.Runner) -> None:
    add(runner, index, "t1", "s", 1, "e1")
    assert runner.run(index.search("t1", "s", near(unit(1), 0.85), 0.9, EMB)) is None


def test_other_scope_is_never_searched(index: Index, runner: asyncio.Runner) -> None:
    add(runner, index, "t1", "s1", 1, "e1")
    assert runner.run(index.search("t1", "s2", unit(1), 0.5, EMB)) is None


def test_identical_vector_in_two_tenants_returns_only_own(index: Index, runner: asyncio.Runner) -> None:
    # The same scope string for both tenants: isolation must not rest on the scope alone.
    add(runner, index, "t1", "s", 1, "e-t1")
    assert runner.run(index.search("t2", "s", unit(1), 0.5, EMB)) is None
    add(runner, index, "t2", "s", 1, "e-t2")
    hit1 = runner.run(index.search("t1", "s", unit(1), 0.5, EMB))
    hit2 = runner.run(index.search("t2", "s", unit(1), 0.5, EMB))
    assert hit1 is not None and hit1[0] == "e-t1"
    assert hit2 is not None and hit2[0] == "e-t2"


def test_embedder_ids_are_never_mixed(index: Index, runner: asyncio.Runner) -> None:
    add(runner, index, "t1", "s", 1, "e1", emb=EMB)
    assert runner.run(index.search("t1", "s", unit(1), 0.5, EMB2)) is None
    add(runner, index, "t1", "s", 1, "e2", emb=EMB2)
    hit = runner.run(index.search("t1", "s", unit(1), 0.5, EMB))
    assert hit is not None and hit[0] == "e1"


def test_expired_vectors_are_not_found(index: Index, runner: asyncio.Runner, clock: FakeClock) -> None:
    add(runner, index, "t1", "s", 1, "e1")
    clock.now += TTL - 1
    assert runner.run(index.search("t1", "s", unit(1), 0.9, EMB)) is not None
    clock.now += 1
    assert runner.run(index.search("t1", "s", unit(1), 0.9, EMB)) is None


def test_purge_expired(index: Index, runner: asyncio.Runner, clock: FakeClock) -> None:
    add(runner, index, "t1", "s", 1, "old")
    clock.now += 10
    add(runner, index, "t1", "s", 2, "new")
    clock.now += TTL - 5
    assert runner.run(index.purge_expired()) == 1
    assert runner.run(index.purge_expired()) == 0
    assert runner.run(index.search("t1", "s", unit(2), 0.9, EMB)) is not None


def test_removal(index: Index, runner: asyncio.Runner) -> None:
    for tenant in ("t1", "t2"):
        for n, model in enumerate(("m1", "m2")):
            runner.run(index.add(tenant, model, "s", unit(n).tobytes(), f"{tenant}-{model}", EMB, TTL))
            runner.run(index.add(tenant, model, "s", unit(n).tobytes(), f"{tenant}-{model}", EMB2, TTL))

    def found(tenant: str, n: int) -> str | None:
        hit = runner.run(index.search(tenant, "s", unit(n), 0.99, EMB))
        return hit[0] if hit else None

    assert runner.run(index.remove_entry("t2", "t1-m1")) == 0  # not t2's
    assert runner.run(index.remove_entry("t1", "t1-m1")) == 2  # in both embedders' indexes
    assert found("t1", 0) is None and found("t2", 0) == "t2-m1"
    assert runner.run(index.remove_model("m2", tenant="t2")) == 2
    assert found("t2", 1) is None and found("t1", 1) == "t1-m2"
    assert runner.run(index.remove_tenant("t1")) == 2
    assert found("t1", 1) is None and found("t2", 0) == "t2-m1"
    assert runner.run(index.remove_model("m1")) == 2
    assert found("t2", 0) is None


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.5])
def test_threshold_out_of_range_is_refused(index: Index, runner: asyncio.Runner, threshold: float) -> None:
    with pytest.raises(ValueError):
        runner.run(index.search("t1", "s", unit(1), threshold, EMB))


def test_wrong_dimensions_are_refused(index: Index, runner: asyncio.Runner) -> None:
    add(runner, index, "t1", "s", 1, "e1")
    with pytest.raises(ValueError):
        runner.run(index.search("t1", "s", unit(1, 10), 0.9, EMB))


def test_memory_index_is_bounded_oldest_first(runner: asyncio.Runner, clock: FakeClock) -> None:
    index = MemoryIndex(3, clock=clock)
    for n in range(5):
        add(runner, index, "t1", f"s{n % 2}", n, f"e{n}")
    assert len(index) == 3
    assert runner.run(index.search("t1", "s0", unit(0), 0.99, EMB)) is None
    assert runner.run(index.search("t1", "s1", unit(1), 0.99, EMB)) is None
    for n in (2, 3, 4):
        hit = runner.run(index.search("t1", f"s{n % 2}", unit(n), 0.99, EMB))
        assert hit is not None and hit[0] == f"e{n}"


def test_memory_index_copies_the_vector(runner: asyncio.Runner, clock: FakeClock) -> None:
    index = MemoryIndex(10, clock=clock)
    v = unit(1)
    runner.run(index.add("t1", "m", "s", v, "e1", EMB, TTL))
    v[:] = np.float32(0)
    assert runner.run(index.search("t1", "s", unit(1), 0.99, EMB)) is not None


def test_qdrant_one_collection_per_embedder(runner: asyncio.Runner, clock: FakeClock) -> None:
    client = AsyncQdrantClient(":memory:")
    index = QdrantIndex(client, dims=DIMS, payload_indexes=False, clock=clock)
    add(runner, index, "t1", "s", 1, "e1", emb=EMB)
    add(runner, index, "t1", "s", 1, "e1", emb=EMB)  # the same entry again replaces its point
    add(runner, index, "t1", "s", 1, "e1", emb=EMB2)

    async def inspect() -> tuple[list[str], int]:
        names = sorted(c.name for c in (await client.get_collections()).collections)
        return names, (await client.count(index.collection(EMB), exact=True)).count

    names, count = runner.run(inspect())
    assert names == sorted({index.collection(EMB), index.collection(EMB2)}) and count == 1
    runner.run(client.close())


def test_dead_qdrant_raises_cache_unavailable(runner: asyncio.Runner) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        client = AsyncQdrantClient(url=f"http://127.0.0.1:{port}", timeout=1, check_compatibility=False)
        index = QdrantIndex(client, dims=DIMS)
        for op in (
            index.add("t1", "m", "s", unit(1).tobytes(), "e1", EMB, TTL),
            index.search("t1", "s", unit(1).tobytes(), 0.9, EMB),
            index.remove_tenant("t1"),
            index.remove_model("m"),
            index.remove_entry("t1", "e1"),
        ):
            with pytest.raises(CacheUnavailable):
                runner.run(op)
        runner.run(client.close())


@pytest.mark.filterwarnings("ignore:Payload indexes have no effect in the local Qdrant")
def test_qdrant_payload_indexes_path(runner: asyncio.Runner, clock: FakeClock) -> None:
    # Local mode accepts (and ignores) payload indexes: this only exercises the server-side set-up.
    client = AsyncQdrantClient(":memory:")
    index = QdrantIndex(client, dims=DIMS, payload_indexes=True, clock=clock)
    add(runner, index, "t1", "s", 1, "e1")
    hit = runner.run(index.search("t1", "s", unit(1), 0.9, EMB))
    assert hit is not None and hit[0] == "e1"
    runner.run(client.close())
