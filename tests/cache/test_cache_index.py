"""Vector indexes: nearest above the threshold, tenant and embedder isolation, expiry and removal, on
the embedded index and on Qdrant (local mode); then the embedded index alone: replacement, refused
vectors, sizes, filtered candidates, and a 20k-vector bucket (prefiltered search) against numpy."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
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


# --------------------------------------------------------------------------- embedded index only


def test_memory_index_readding_an_entry_replaces_it(runner: asyncio.Runner, clock: FakeClock) -> None:
    index = MemoryIndex(10, clock=clock)
    add(runner, index, "t1", "s", 1, "e1")
    add(runner, index, "t1", "s", 2, "e1")
    assert len(index) == 1
    assert runner.run(index.search("t1", "s", unit(1), 0.9, EMB)) is None
    hit = runner.run(index.search("t1", "s", unit(2), 0.9, EMB))
    assert hit is not None and hit[0] == "e1"


def test_memory_index_refuses_non_finite_and_misshapen_vectors(
    runner: asyncio.Runner, clock: FakeClock
) -> None:
    index = MemoryIndex(10, clock=clock)
    bad = unit(1)
    bad[5] = np.nan
    with pytest.raises(ValueError):
        runner.run(index.add("t1", "m", "s", bad, "e1", EMB, TTL))
    with pytest.raises(ValueError):
        runner.run(index.add("t1", "m", "s", b"\0" * 7, "e1", EMB, TTL))
    assert len(index) == 0
    # The refused vector left no bucket behind: another size may start it.
    runner.run(index.add("t1", "m", "s", unit(1, 16), "e1", EMB, TTL))
    with pytest.raises(ValueError):
        runner.run(index.add("t1", "m", "s", unit(1), "e2", EMB, TTL))
    with pytest.raises(ValueError):
        runner.run(index.search("t1", "s", bad[:16], 0.9, EMB))
    assert len(index) == 1


def test_memory_index_dimensions_per_embedder(runner: asyncio.Runner, clock: FakeClock) -> None:
    index = MemoryIndex(10, clock=clock)
    runner.run(index.add("t1", "m", "s", unit(1, 1536), "e1", EMB, TTL))
    runner.run(index.add("t1", "m", "s", unit(1, 3072), "e2", EMB2, TTL))
    hit1 = runner.run(index.search("t1", "s", near(unit(1, 1536), 0.97), 0.96, EMB))
    hit2 = runner.run(index.search("t1", "s", unit(1, 3072), 0.96, EMB2))
    assert hit1 is not None and hit1[0] == "e1" and hit1[1] == pytest.approx(0.97, abs=1e-4)
    assert hit2 is not None and hit2[0] == "e2"


@pytest.mark.parametrize("crowd", ["other-tenant", "expired"])
def test_memory_index_looks_past_filtered_candidates(
    runner: asyncio.Runner, clock: FakeClock, crowd: str
) -> None:
    # More better-scoring vectors than one native search returns are filtered out: the search
    # must ask again rather than miss the match behind them.
    index = MemoryIndex(1000, clock=clock)
    tenant, ttl = ("t2", TTL) if crowd == "other-tenant" else ("t1", 10.0)
    for n in range(40):
        runner.run(index.add(tenant, "m", "s", unit(1).tobytes(), f"crowd-{n}", EMB, ttl))
    runner.run(index.add("t1", "m", "s", near(unit(1), 0.97).tobytes(), "mine", EMB, TTL))
    clock.now += 20
    hit = runner.run(index.search("t1", "s", unit(1), 0.96, EMB))
    assert hit is not None and hit[0] == "mine"
    assert runner.run(index.search("t1", "s", unit(1), 0.98, EMB)) is None


def minilm_like(n: int, dims: int = DIMS, seed: int = 0) -> npt.NDArray[np.float32]:
    """Unit vectors shaped like sentence embeddings: a shared mean direction (mean pairwise cosine
    ~0.15), a decaying spectrum, and clusters of ten at cosine 0.7-0.95 from their centre."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((dims, dims)))[0]
    scales = 1 / np.sqrt(1 + np.arange(dims) / 16)

    def draw(k: int) -> npt.NDArray[np.float64]:
        return np.asarray((rng.standard_normal((k, dims)) * scales) @ basis.T)

    def units(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(m / np.linalg.norm(m, axis=1, keepdims=True))

    mean = units(rng.standard_normal((1, dims)))[0] * np.linalg.norm(scales) * 0.5
    centres = units(mean + draw(n // 10))
    parent = centres[rng.integers(0, len(centres), n)]
    noise = draw(n)
    noise = units(noise - (noise * parent).sum(1, keepdims=True) * parent)
    cos = rng.uniform(0.7, 0.95, (n, 1))
    return units(cos * parent + np.sqrt(1 - cos * cos) * noise).astype(np.float32)


def test_memory_index_large_bucket_matches_numpy(runner: asyncio.Runner, clock: FakeClock) -> None:
    # 20k vectors in one bucket: searches go through the Hamming prefilter, and must still return
    # numpy's best match for near-duplicate queries (and nothing for unrelated ones). 200 of the
    # vectors have five close siblings each (cosine 0.93-0.98): their queries have several
    # candidates above the threshold, in an order the Hamming distance sometimes gets wrong.
    n = 20_000
    vectors = minilm_like(n - 1000 + 50)
    unrelated = vectors[n - 1000 :]
    rng = np.random.default_rng(5)
    siblings = [
        near(a, float(rng.uniform(0.93, 0.98)), seed=j) for j, a in enumerate(np.repeat(vectors[:200], 5, 0))
    ]
    stored = np.concatenate([vectors[: n - 1000], siblings])
    index = MemoryIndex(n, clock=clock)
    live = np.ones(n, bool)
    live[::97] = False  # removed after the fill (one call): never to be returned

    async def fill() -> None:
        for i, v in enumerate(stored):
            await index.add("t1", "m" if live[i] else "gone", "s", v.tobytes(), f"e{i}", EMB, TTL)
        assert await index.remove_model("gone") == n - live.sum()

    runner.run(fill())
    native = index._buckets[(EMB, "s")].index
    assert len(native) > native.exact_limit  # the prefiltered path
    stored64 = np.where(live[:, None], stored.astype(np.float64), 0.0)
    picks = [*rng.integers(0, 200, 100), *rng.integers(n - 1000, n, 100), *rng.integers(0, n, 100)]
    queries = [near(stored[i], float(rng.uniform(0.962, 0.99)), seed=t) for t, i in enumerate(picks)]
    threshold, found = 0.96, 0
    for q in [*queries, *unrelated]:
        scores = stored64 @ q
        best = int(np.argmax(scores))
        want = f"e{best}" if scores[best] >= threshold else None
        hit = runner.run(index.search("t1", "s", q, threshold, EMB))
        assert (hit[0] if hit else None) == want
        if hit:
            assert hit[1] == pytest.approx(scores[best], abs=1e-5)
            found += 1
    assert found >= 250
