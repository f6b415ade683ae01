"""Vector indexes of the semantic cache: the protocol and the embedded (numpy) index.

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
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

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
    vector: Vector
    tenant: str
    model: str
    expires: float


@dataclass(slots=True)
class _Bucket:
    """The vectors of one (embedder id, scope), with their matrix built lazily after changes."""

    points: dict[str, _Point] = field(default_factory=dict)
    dims: int = 0
    _matrix: Vector | None = None
    _keys: list[str] = field(default_factory=list)

    def changed(self) -> None:
        self._matrix = None

    def matrix(self) -> tuple[Vector, list[str]]:
        if self._matrix is None:
            self._keys = list(self.points)
            self._matrix = np.stack([self.points[k].vector for k in self._keys])
        return self._matrix, self._keys


class MemoryIndex:
    """The embedded index: a matrix of unit vectors per (embedder id, scope); a search is one
    matrix-vector product. Bounded to ``max_vectors`` overall, oldest first out."""

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
        vec = as_vector(vector).copy()  # never a view of the caller's buffer
        bucket = self._buckets.setdefault((embedder_id, scope), _Bucket(dims=vec.size))
        if vec.size != bucket.dims:
            raise ValueError(f"vector has {vec.size} dimensions, the index of {embedder_id!r} {bucket.dims}")
        bucket.points[entry_key] = _Point(vec, tenant, model, self._clock() + ttl)
        bucket.changed()
        where = (embedder_id, scope, entry_key)
        self._order[where] = None
        self._order.move_to_end(where)
        while len(self._order) > self.max_vectors:
            old, _ = self._order.popitem(last=False)
            self._discard(old)

    async def search(
        self, tenant: str, scope: str, vector: bytes | Vector, threshold: float, embedder_id: str
    ) -> tuple[str, float] | None:
        check_threshold(threshold)
        bucket = self._buckets.get((embedder_id, scope))
        if bucket is None or not bucket.points:
            return None
        matrix, keys = bucket.matrix()
        scores = matrix @ as_vector(vector, bucket.dims)
        now = self._clock()
        # Best first; skip other tenants' and expired points (rarely more than the first is looked at).
        for i in np.argsort(scores)[::-1]:
            score = float(scores[i])
            if score < threshold:
                return None
            point = bucket.points[keys[i]]
            if point.tenant == tenant and point.expires > now:
                return keys[i], score
        return None

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
            (embedder_id, scope, key)
            for (embedder_id, scope), bucket in self._buckets.items()
            for key, point in bucket.points.items()
            if match(key, point)
        ]
        for where in doomed:
            self._order.pop(where, None)
            self._discard(where)
        return len(doomed)

    def _discard(self, where: tuple[str, str, str]) -> None:
        embedder_id, scope, key = where
        bucket = self._buckets.get((embedder_id, scope))
        if bucket is None or bucket.points.pop(key, None) is None:
            return
        bucket.changed()
        if not bucket.points:
            del self._buckets[(embedder_id, scope)]
