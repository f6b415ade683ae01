"""Vector indexes of the semantic cache: the protocol and the embedded (native) index.

A vector is stored under its embedder id and scope (``keys.semantic_scope``) and is only ever compared
with vectors of the same pair: vectors of different embedders live in different spaces, and the scope
carries everything but the embedded question. The tenant is hashed into the scope and is also stored
per vector and filtered on, so isolation never rests on the scope alone.

Scores are cosine similarities of unit vectors (the dot product), in [-1, 1].
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from brutor._native import VectorIndex as _NativeIndex

__all__ = ["MemoryIndex", "VectorIndex", "as_vector", "check_threshold"]

Vector = npt.NDArray[np.float32]


def as_vector(vector: bytes | Vector, dims: int | None = None) -> Vector:
    """A 1-d float32 array of ``vector`` (the embedder's bytes or an array)."""
    arr = np.frombuffer(vector, dtype="<f4") if isinstance(vector, bytes) else np.asarray(vector, np.float32)
    if arr.ndim != 1 or arr.size == 0 or (dims is not None and arr.size != dims):
        raise ValueError(f"expected a vector of {dims or 'some'} float32 values, got shape {arr.shape}")
    return arr


def check_threshold(threshold: float) -> None:
    # A threshold of 0 or below would match nearly everything (RedisVL #649 ignored 0 silently).
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], not {threshold}")


class VectorIndex(Protocol):
    """A vector index. Every method may raise ``CacheUnavailable``."""

    async def add(
        self,
        tenant: str,
        model: str,
        scope: str,
        vector: bytes | Vector,
        entry_key: str,
        embedder_id: str,
        ttl: float,
    ) -> None:
        """Index ``entry_key`` for ``ttl`` seconds (match the entry's TTL: both expire together)."""

    async def search(
        self, tenant: str, scope: str, vector: bytes | Vector, threshold: float, embedder_id: str
    ) -> tuple[str, float] | None:
        """The nearest live entry key of ``tenant`` in ``scope`` and its score, if ``>= threshold``."""

    async def remove_entry(self, tenant: str, entry_key: str) -> int: ...

    async def remove_tenant(self, tenant: str) -> int: ...

    async def remove_model(self, model: str, tenant: str | None = None) -> int: ...

    async def purge_expired(self) -> int:
        """Delete expired vectors (searches already skip them); for a periodic housekeeping task."""


@dataclass(slots=True)
class _Point:
    entry_key: str
    tenant: str
    model: str
    expires: float


class _Bucket:
    """The vectors of one (embedder id, scope): a native index, and per slot what it points to."""

    __slots__ = ("dims", "index", "points", "slots")

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.index = _NativeIndex(dims)
        self.points: dict[int, _Point] = {}
        self.slots: dict[str, int] = {}  # entry key -> slot


# Candidates asked of the native index per search: enough that the tenant and expiry checks
# almost never exhaust them (a bucket is normally one tenant's; expired vectors accumulate only
# between purges). If every one is filtered out, the search asks again for LIMIT_GROWTH times more.
SEARCH_LIMIT = 8
LIMIT_GROWTH = 16


class MemoryIndex:
    """The embedded index: a native ``VectorIndex`` per (embedder id, scope), exact up to a few
    thousand vectors, Hamming-prefiltered above (see ``brutor._native.VectorIndex``). Bounded to
    ``max_vectors`` overall, oldest first out."""

    def __init__(self, max_vectors: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_vectors < 1:
            raise ValueError("max_vectors must be at least 1")
        self.max_vectors = max_vectors
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        # Insertion order over all buckets, for eviction: (embedder id, scope, entry key).
        self._order: OrderedDict[tuple[str, str, str], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._order)

    async def add(
        self,
        tenant: str,
        model: str,
        scope: str,
        vector: bytes | Vector,
        entry_key: str,
        embedder_id: str,
        ttl: float,
    ) -> None:
        if not ttl > 0:
            raise ValueError("ttl must be positive")
        vec = as_vector(vector)
        bucket = self._buckets.get((embedder_id, scope))
        if bucket is not None and vec.size != bucket.dims:
            raise ValueError(f"vector has {vec.size} dimensions, the index of {embedder_id!r} {bucket.dims}")
        if bucket is None:
            bucket = self._buckets[(embedder_id, scope)] = _Bucket(vec.size)
        try:
            slot = bucket.index.insert(_le_bytes(vector, vec))  # copied: never a view of the caller's
        except ValueError:
            if not bucket.points:
                del self._buckets[(embedder_id, scope)]
            raise
        old = bucket.slots.get(entry_key)
        if old is not None:
            bucket.index.remove(old)
            del bucket.points[old]
        bucket.slots[entry_key] = slot
        bucket.points[slot] = _Point(entry_key, tenant, model, self._clock() + ttl)
        where = (embedder_id, scope, entry_key)
        self._order[where] = None
        self._order.move_to_end(where)
        while len(self._order) > self.max_vectors:
            oldest, _ = self._order.popitem(last=False)
            self._discard(oldest)

    async def search(
        self, tenant: str, scope: str, vector: bytes | Vector, threshold: float, embedder_id: str
    ) -> tuple[str, float] | None:
        check_threshold(threshold)
        bucket = self._buckets.get((embedder_id, scope))
        if bucket is None:
            return None
        query = _le_bytes(vector, as_vector(vector, bucket.dims))
        now = self._clock()
        limit = SEARCH_LIMIT
        while True:
            hits = bucket.index.search(query, threshold, limit)
            # Best first; skip other tenants' and expired points.
            for slot, score in hits:
                if score < threshold:  # the native side compares in float32
                    return None
                point = bucket.points[slot]
                if point.tenant == tenant and point.expires > now:
                    return point.entry_key, score
            if len(hits) < limit:
                return None
            limit *= LIMIT_GROWTH

    async def remove_entry(self, tenant: str, entry_key: str) -> int:
        return self._remove(lambda key, p: key == entry_key and p.tenant == tenant)

    async def remove_tenant(self, tenant: str) -> int:
        return self._remove(lambda _, p: p.tenant == tenant)

    async def remove_model(self, model: str, tenant: str | None = None) -> int:
        return self._remove(lambda _, p: p.model == model and (tenant is None or p.tenant == tenant))

    async def purge_expired(self) -> int:
        now = self._clock()
        return self._remove(lambda _, p: p.expires <= now)

    def _remove(self, match: Callable[[str, _Point], bool]) -> int:
        doomed = [
            (embedder_id, scope, point.entry_key)
            for (embedder_id, scope), bucket in self._buckets.items()
            for point in bucket.points.values()
            if match(point.entry_key, point)
        ]
        for where in doomed:
            self._order.pop(where, None)
            self._discard(where)
        return len(doomed)

    def _discard(self, where: tuple[str, str, str]) -> None:
        embedder_id, scope, key = where
        bucket = self._buckets.get((embedder_id, scope))
        if bucket is None or (slot := bucket.slots.pop(key, None)) is None:
            return
        del bucket.points[slot]
        bucket.index.remove(slot)
        if not bucket.points:
            del self._buckets[(embedder_id, scope)]


def _le_bytes(vector: bytes | Vector, vec: Vector) -> bytes:
    """The little-endian float32 bytes of ``vec`` (``vector`` itself when it already is them)."""
    if isinstance(vector, bytes):
        return vector
    return vec.astype("<f4", copy=False).tobytes()
