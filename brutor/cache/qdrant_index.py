"""The vector index on Qdrant (``qdrant-client``'s async client): a server URL in production, local mode
(``AsyncQdrantClient(":memory:")`` or ``path=``) in tests only. Local mode is a pure-Python brute force
(CACHE.md: 40 ms per query at 10k points, 250 ms with a filter), far too slow to serve.

One collection per embedder id (vectors of different embedders never meet), cosine distance. Each point
carries tenant, scope, model, entry key and an absolute expiry (wall-clock seconds); a search filters on
tenant AND scope AND not expired, and the tenant of the returned point is checked again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from hashlib import blake2b
from typing import TypeVar

import httpx
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import ApiException

from brutor.cache.errors import CacheUnavailable
from brutor.cache.index import Vector, as_vector, check_threshold

__all__ = ["QdrantIndex"]

T = TypeVar("T")
# What the client raises when the server is down or refuses: connection errors surface as
# ResponseHandlingException (an ApiException), HTTP error statuses as UnexpectedResponse (also one).
_UNAVAILABLE = (ApiException, httpx.HTTPError, OSError)


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


class QdrantIndex:
    """Vectors in Qdrant collections named ``{prefix}{hash of the embedder id}`` (ids hold ``/`` and
    ``@``, which collection names may not). ``payload_indexes`` creates keyword indexes on tenant and
    scope with a new collection (turn it off in local mode, where they do nothing and warn)."""

    def __init__(
        self,
        client: AsyncQdrantClient,
        *,
        dims: int = 384,
        prefix: str = "brutor_cache_",
        payload_indexes: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self.dims = dims
        self.prefix = prefix
        self._payload_indexes = payload_indexes
        self._clock = clock  # wall clock: expiries are shared by every gateway process
        self._ready: set[str] = set()  # collections known to exist (per instance, not per module)

    def collection(self, embedder_id: str) -> str:
        return self.prefix + blake2b(embedder_id.encode(), digest_size=12).hexdigest()

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
        vec = as_vector(vector, self.dims)
        name = self.collection(embedder_id)
        await self._ensure(name)
        # A deterministic id: storing the same entry again replaces its point.
        point_id = uuid.UUID(
            bytes=blake2b(f"{tenant}\0{scope}\0{entry_key}".encode(), digest_size=16).digest()
        )
        payload = {
            "tenant": tenant,
            "scope": scope,
            "model": model,
            "entry_key": entry_key,
            "embedder_id": embedder_id,
            "expires": self._clock() + ttl,
        }
        point = models.PointStruct(id=str(point_id), vector=vec.tolist(), payload=payload)
        try:
            await self._call(self._client.upsert(name, [point], wait=True))
        except CacheUnavailable:
            self._ready.discard(name)  # it may have been dropped: check again next time
            raise

    async def search(
        self, tenant: str, scope: str, vector: bytes | Vector, threshold: float, embedder_id: str
    ) -> tuple[str, float] | None:
        check_threshold(threshold)
        vec = as_vector(vector, self.dims)
        name = self.collection(embedder_id)
        if not await self._exists(name):
            return None
        query_filter = models.Filter(
            must=[
                _match("tenant", tenant),
                _match("scope", scope),
                models.FieldCondition(key="expires", range=models.Range(gt=self._clock())),
            ]
        )
        try:
            result = await self._call(
                self._client.query_points(
                    name,
                    query=vec.tolist(),
                    query_filter=query_filter,
                    limit=1,
                    score_threshold=threshold,
                    with_payload=["tenant", "entry_key"],
                )
            )
        except CacheUnavailable:
            self._ready.discard(name)
            raise
        for point in result.points:
            payload = point.payload or {}
            if payload.get("tenant") == tenant and point.score >= threshold:
                return str(payload["entry_key"]), float(point.score)
        return None

    async def remove_entry(self, tenant: str, entry_key: str) -> int:
        return await self._delete([_match("tenant", tenant), _match("entry_key", entry_key)])

    async def remove_tenant(self, tenant: str) -> int:
        return await self._delete([_match("tenant", tenant)])

    async def remove_model(self, model: str, tenant: str | None = None) -> int:
        conditions = [_match("model", model)]
        if tenant is not None:
            conditions.append(_match("tenant", tenant))
        return await self._delete(conditions)

    async def purge_expired(self) -> int:
        return await self._delete(
            [models.FieldCondition(key="expires", range=models.Range(lte=self._clock()))]
        )

    async def _delete(self, conditions: list[models.FieldCondition]) -> int:
        """Delete matching points in every collection of this index; returns how many there were."""
        selector = models.Filter(must=list(conditions))
        listing = await self._call(self._client.get_collections())
        removed = 0
        for desc in listing.collections:
            if not desc.name.startswith(self.prefix):
                continue
            counted = await self._call(self._client.count(desc.name, count_filter=selector, exact=True))
            if counted.count:
                await self._call(
                    self._client.delete(
                        desc.name, points_selector=models.FilterSelector(filter=selector), wait=True
                    )
                )
                removed += counted.count
        return removed

    async def _exists(self, name: str) -> bool:
        if name in self._ready:
            return True
        if await self._call(self._client.collection_exists(name)):
            self._ready.add(name)
            return True
        return False

    async def _ensure(self, name: str) -> None:
        if await self._exists(name):
            return
        params = models.VectorParams(size=self.dims, distance=models.Distance.COSINE)
        try:
            await self._client.create_collection(name, vectors_config=params)
        except _UNAVAILABLE as exc:
            # Another process may have created it meanwhile (409 Conflict): then it is usable.
            if not await self._call(self._client.collection_exists(name)):
                raise CacheUnavailable(f"vector index unavailable: {exc}") from exc
        except ValueError:
            # Local mode reports an existing collection as ValueError; anything else is re-checked.
            if not await self._call(self._client.collection_exists(name)):
                raise
        if self._payload_indexes:
            # tenant marked is_tenant: Qdrant then lays out storage per tenant; expires is range-filtered.
            schemas: dict[str, models.PayloadSchemaParams] = {
                "tenant": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
                "scope": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD),
                "expires": models.FloatIndexParams(type=models.FloatIndexType.FLOAT),
            }
            for field, schema in schemas.items():
                await self._call(self._client.create_payload_index(name, field, schema))
        self._ready.add(name)

    @staticmethod
    async def _call(op: Awaitable[T]) -> T:
        try:
            return await op
        except _UNAVAILABLE as exc:
            raise CacheUnavailable(f"vector index unavailable: {exc}") from exc
