"""Tests of the native vector index (``brutor._native.VectorIndex``) against numpy.

Exact searches must return what a float64 numpy scan returns (scores within float32 rounding);
prefiltered searches (an ``exact_limit`` forced low) must find the same best neighbour for
near-duplicate queries. Plus slot reuse, removal, thresholds, limits and refused input.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from brutor._native import VectorIndex, VectorIndexError

Matrix = npt.NDArray[np.float32]


def units(n: int, dims: int, seed: int) -> Matrix:
    m = np.random.default_rng(seed).standard_normal((n, dims))
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def near(v: Matrix, cos: float, seed: int) -> Matrix:
    """A unit vector at cosine ``cos`` from unit vector ``v``."""
    r = np.random.default_rng(seed).standard_normal(v.size)
    r -= (r @ v) * v
    r /= np.linalg.norm(r)
    return (cos * v + np.sqrt(1 - cos * cos) * r).astype(np.float32)


def brute(stored: dict[int, Matrix], q: Matrix, threshold: float, limit: int) -> list[tuple[int, float]]:
    slots = list(stored)
    scores = np.stack([stored[s] for s in slots]).astype(np.float64) @ q.astype(np.float64)
    hits = [(slots[i], float(scores[i])) for i in np.flatnonzero(scores >= threshold)]
    return sorted(hits, key=lambda h: (-h[1], h[0]))[:limit]


def filled(index: VectorIndex, vectors: Matrix) -> dict[int, Matrix]:
    return {index.insert(v.tobytes()): v for v in vectors}


@pytest.mark.parametrize("dims", [3, 384, 1536])
def test_exact_search_matches_numpy(dims: int) -> None:
    index = VectorIndex(dims)
    stored = filled(index, units(500, dims, seed=dims))
    assert len(index) == 500 and index.dims == dims and index.exact_limit >= 500
    for i in range(20):
        q = near(stored[i * 11], 0.97, seed=i) if i % 2 else units(1, dims, seed=1000 + i)[0]
        for threshold, limit in [(-1.0, 5), (0.2, 500), (0.9, 3)]:
            got = index.search(q.tobytes(), threshold, limit)
            want = brute(stored, q, threshold, limit)
            assert [s for s, _ in got] == [s for s, _ in want]
            assert [sc for _, sc in got] == pytest.approx([sc for _, sc in want], abs=1e-5)


@pytest.mark.parametrize("dims", [384, 100])
def test_prefilter_finds_the_exact_best(dims: int) -> None:
    index = VectorIndex(dims, exact_limit=100, oversample=32)
    vectors = units(5000, dims, seed=7)
    assert list(filled(index, vectors)) == list(range(5000))
    for i in range(200):
        q = near(vectors[i * 23], 0.962 + 0.03 * (i % 5) / 4, seed=i)
        got = index.search(q.tobytes(), 0.96, 1)
        scores = vectors.astype(np.float64) @ q
        assert [s for s, _ in got] == [int(np.argmax(scores))] == [i * 23]
    assert index.search(units(1, dims, seed=99)[0].tobytes(), 0.96, 1) == []


def test_slots_removal_and_reuse() -> None:
    index = VectorIndex(2)
    a, b, c = (index.insert(np.array(v, np.float32).tobytes()) for v in ([1, 0], [0, 1], [0.6, 0.8]))
    assert (a, b, c) == (0, 1, 2)
    index.remove(b)
    assert len(index) == 2
    assert index.search(np.array([0, 1], np.float32).tobytes(), 0.9, 5) == []
    with pytest.raises(KeyError):
        index.remove(b)
    with pytest.raises(KeyError):
        index.remove(99)
    assert index.insert(np.array([-1, 0], np.float32).tobytes()) == b
    assert index.search(np.array([-1, 0], np.float32).tobytes(), 0.9, 5) == [(b, 1.0)]
    assert repr(index) == "VectorIndex(dims=2, len=3)"


def test_threshold_limit_and_order() -> None:
    index = VectorIndex(2)
    for v in ([1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1], [1, 0]):
        index.insert(np.array(v, np.float32).tobytes())
    q = np.array([1, 0], np.float32).tobytes()
    assert [s for s, _ in index.search(q, 0.7, 10)] == [0, 4, 1]  # equal scores: lower slot first
    assert [s for s, _ in index.search(q, -1.0, 2)] == [0, 4]
    assert index.search(q, 1.5, 10) == []
    assert index.search(q, 0.5, 0) == []


def test_buffers_are_accepted() -> None:
    index = VectorIndex(4)
    v = units(1, 4, seed=1)[0]
    index.insert(bytearray(v.tobytes()))
    index.insert(memoryview(v.tobytes()))
    assert len(index.search(memoryview(v.tobytes()), 0.99, 5)) == 2


def test_refused_input() -> None:
    with pytest.raises(VectorIndexError):
        VectorIndex(0)
    index = VectorIndex(3)
    for bad in (np.zeros(2, np.float32).tobytes(), b"\0" * 7, np.array([1, np.nan, 0], np.float32).tobytes()):
        with pytest.raises(VectorIndexError):
            index.insert(bad)
        with pytest.raises(ValueError):
            index.search(bad, 0.5, 1)
    with pytest.raises(VectorIndexError, match="component 0 is NaN or infinite"):
        index.search(np.array([np.inf, 0, 0], np.float32).tobytes(), 0.5, 1)
    with pytest.raises(VectorIndexError):
        index.search(np.ones(3, np.float32).tobytes(), float("nan"), 1)
    with pytest.raises(TypeError):
        index.insert("not bytes")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        index.search(np.ones(3, np.float32).tobytes(), 0.5, -1)
    assert len(index) == 0
