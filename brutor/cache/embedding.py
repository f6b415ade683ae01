"""Where the semantic tier's vectors come from: the local model, or an embeddings model the gateway
itself routes (``cache.embedder: route``, ``cache.embedding_model: <alias>``).

Each vector comes with the id of its vector space, and the index never compares vectors of two ids. For
a routed model the id is the deployment that answered (``<provider>/<upstream model>``), learned per
call: an alias spread over different models, or changed by a reload, then never mixes spaces.

A routed embedding is a real upstream call: it is recorded in the audit trail like any request
(operation ``embeddings``, key ``brutor-cache``, the tenant whose question it embeds), and any failure
or a slow answer (``embedding_timeout_seconds``) makes the lookup fail open.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import numpy as np
import orjson

from brutor._native import normalize_l2
from brutor.cache.errors import CacheUnavailable
from brutor.context import Call, Principal, RequestContext, Target
from brutor.errors import GatewayError
from brutor.pipeline.reply import Reply
from brutor.server.ids import RequestIds

__all__ = ["CacheEmbedder", "LocalEmbedding", "RouteEmbedding"]

CACHE_KEY_ID = "brutor-cache"


class CacheEmbedder(Protocol):
    def fits(self, text: str) -> bool:
        """Whether ``text`` is embedded whole (a truncated question would match other questions)."""

    async def embed(self, text: str, tenant: str) -> tuple[bytes, str]:
        """The unit float32 vector of ``text`` (little-endian bytes) and the id of its vector space.
        Raises ``CacheUnavailable`` when no vector can be had."""


class LocalEmbedding:
    """The built-in model (``brutor.embed.embedder.Embedder``), run on its own thread."""

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder

    def fits(self, text: str) -> bool:
        return bool(self._embedder.fits(text))

    async def embed(self, text: str, tenant: str) -> tuple[bytes, str]:
        vector: bytes = await self._embedder.aembed(text)
        return vector, str(self._embedder.id)

    def close(self) -> None:
        self._embedder.close()


class RouteEmbedding:
    """Embeddings from ``alias`` through the gateway's own route and call stages."""

    def __init__(self, pipeline: Any, egress: Any, alias: str, *, timeout: float, max_chars: int) -> None:
        self._pipeline = pipeline
        self._egress = egress
        self._alias = alias
        self._timeout = timeout
        self._max_chars = max_chars
        self._ids = RequestIds()

    def fits(self, text: str) -> bool:
        return len(text) <= self._max_chars

    async def embed(self, text: str, tenant: str) -> tuple[bytes, str]:
        ctx = RequestContext(self._ids.next(), {})
        ctx.principal = Principal(key_id=CACHE_KEY_ID, tenant=tenant)
        ctx.call = Call(Target.LLM, "embeddings", self._alias, False, {"model": self._alias, "input": text})
        try:
            router, caller = self._pipeline.target(Target.LLM)
            reply = await asyncio.wait_for(caller(ctx, router(ctx)), self._timeout)
        except GatewayError as exc:
            ctx.status, ctx.error_code = exc.status, exc.code
            self._egress.record(ctx)
            raise CacheUnavailable(f"embedding model {self._alias!r}: {exc.code or exc.status}") from None
        except TimeoutError:
            ctx.status, ctx.error_code = 504, "upstream_timeout"
            self._egress.record(ctx)
            raise CacheUnavailable(
                f"embedding model {self._alias!r}: no answer in {self._timeout}s"
            ) from None
        ctx.status = reply.status
        self._egress.record(ctx)
        if not isinstance(reply, Reply) or reply.status != 200 or not ctx.deployment:
            raise CacheUnavailable(f"embedding model {self._alias!r}: status {reply.status}")
        return _vector(reply.body, self._alias), f"route:{ctx.deployment}"


def _vector(body: bytes, alias: str) -> bytes:
    try:
        values = orjson.loads(body)["data"][0]["embedding"]
        arr = np.asarray(values, dtype="<f4")
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError):
        raise CacheUnavailable(f"embedding model {alias!r}: not an embeddings response") from None
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all() or not arr.any():
        raise CacheUnavailable(f"embedding model {alias!r}: not a usable vector")
    return normalize_l2(arr.tobytes())
