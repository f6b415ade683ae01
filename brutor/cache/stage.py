"""The cache stage: exact tier, then semantic tier; a hit answers without calling the provider.

After authorize and guard (a hit never serves a caller who may not use the model, and keys are made of
the redacted prompt). Bypassed (no lookup, no store) per ``brutor.cache.keys.bypass_reason``. A miss arms
``ctx.on_complete``: the return path calls it with a complete, successful non-stream answer that no
response guardrail changed, and the entry is stored then — never after an error or a truncated stream.
Any store or index failure bypasses the cache for that request (fail-open) and is logged once.
A streamed request that hits gets the cached answer re-streamed as ``chat.completion.chunk`` events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from brutor.cache.config import CacheConfig
from brutor.cache.entries import Entries, Entry
from brutor.cache.errors import CacheUnavailable
from brutor.cache.guard import guard
from brutor.cache.index import VectorIndex
from brutor.cache.keys import bypass_reason, exact_key, last_user_text, semantic_scope
from brutor.context import RequestContext, Target
from brutor.pipeline.reply import Reply, StreamReply

log = logging.getLogger("brutor.cache")

_JSON = [("content-type", "application/json")]
_SSE = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
_PIECE = 24  # characters per replayed chunk


class CacheStage:
    name = "cache"

    def __init__(self, cfg: CacheConfig, entries: Entries, index: VectorIndex | None, embedder: Any) -> None:
        self._cfg = cfg
        self._entries = entries
        self._index = index if cfg.semantic else None
        self._embedder = embedder if cfg.semantic else None
        self._pending: set[asyncio.Task[None]] = set()
        self._down = False

    async def __call__(self, ctx: RequestContext) -> Reply | StreamReply | None:
        call, principal = ctx.call, ctx.principal
        if (
            call is None
            or principal is None
            or call.target != Target.LLM
            or call.operation != "chat.completions"
        ):
            return None
        payload = call.payload
        reason = bypass_reason(payload, ctx.headers, self._cfg.max_temperature)
        payload.pop("brutor", None)  # the gateway's own extension never goes upstream
        if reason is not None:
            self._mark(ctx, "bypass", reason)
            return None
        tenant, model = principal.tenant, call.resource
        key = exact_key(tenant, model, payload)
        try:
            entry = await self._entries.get(tenant, model, key)
            if entry is not None:
                return self._hit(ctx, entry, 1.0)
            found = await self._semantic(ctx, tenant, model, payload, key)
        except CacheUnavailable as exc:
            self._failed(exc)
            self._mark(ctx, "bypass", "unavailable")
            return None
        if isinstance(found, tuple):
            return self._hit(ctx, found[0], found[1])
        self._down = False
        ctx.on_complete = found
        self._mark(ctx, "miss", None)
        return None

    async def _semantic(
        self, ctx: RequestContext, tenant: str, model: str, payload: dict[str, Any], key: str
    ) -> Any:
        """A (entry, similarity) hit, or the store callback for a miss."""
        question = last_user_text(payload)
        vector = None
        scope = None
        embedder, index = self._embedder, self._index
        if embedder is not None and index is not None and question and embedder.fits(question):
            vector = await embedder.aembed(question)
            scope = semantic_scope(tenant, model, payload)
            near = await index.search(tenant, scope, vector, self._cfg.threshold, embedder.id)
            if near is not None:
                entry = await self._entries.get(tenant, model, near[0])
                # The guard refuses near-misses the embedding cannot tell apart (numbers, units, …).
                if entry is not None and entry.question is not None and guard(question, entry.question):
                    return entry, near[1]

        def store(body: bytes, prompt_tokens: int, completion_tokens: int) -> None:
            entry = Entry(
                tenant=tenant,
                model=model,
                body=body,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                created=time.time(),
                embedder_id=embedder.id if vector is not None and embedder is not None else None,
                question=question,
            )
            task = asyncio.get_running_loop().create_task(self._store(key, entry, scope, vector))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

        return store

    async def _store(self, key: str, entry: Entry, scope: str | None, vector: bytes | None) -> None:
        ttl = self._cfg.ttl_seconds
        try:
            await self._entries.put(key, entry, ttl)
            if vector is not None and scope is not None and self._index is not None and entry.embedder_id:
                await self._index.add(entry.tenant, entry.model, scope, vector, key, entry.embedder_id, ttl)
        except CacheUnavailable as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if not self._down:
            log.warning("cache unavailable (%s): requests bypass it until it answers again", exc)
            self._down = True

    def _mark(self, ctx: RequestContext, status: str, reason: str | None) -> None:
        ctx.cache_status = status
        value = status if reason is None else f"{status}; reason={reason}"
        ctx.response_headers = (*ctx.response_headers, ("x-brutor-cache", value))

    def _hit(self, ctx: RequestContext, entry: Entry, similarity: float) -> Reply | StreamReply:
        ctx.cache_status = "hit"
        age = max(0, int(time.time() - entry.created))
        ctx.response_headers = (
            *ctx.response_headers,
            ("x-brutor-cache", f"hit; similarity={similarity:.4f}"),
            ("age", str(age)),
        )
        assert ctx.call is not None
        ctx.mark_first_token()
        if not ctx.call.stream:
            return Reply(200, list(_JSON), entry.body)
        options = ctx.call.payload.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        return _replay(entry, with_usage)


def _replay(entry: Entry, with_usage: bool) -> StreamReply:
    """The cached chat.completion as chat.completion.chunk events (the server adds ``[DONE]``)."""
    doc = orjson.loads(entry.body)
    base = {
        "id": doc.get("id"),
        "object": "chat.completion.chunk",
        "created": doc.get("created"),
        "model": doc.get("model"),
    }
    events: list[bytes] = []
    for choice in doc.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        text = message.get("content") or ""
        pieces = [text[i : i + _PIECE] for i in range(0, len(text), _PIECE)] or [""]
        for n, piece in enumerate(pieces):
            delta: dict[str, Any] = {"content": piece}
            if n == 0:
                delta["role"] = "assistant"
            events.append(
                _event({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
            )
        finish = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}
        events.append(_event({**base, "choices": [finish]}))
    if with_usage and doc.get("usage") is not None:
        events.append(_event({**base, "choices": [], "usage": doc["usage"]}))
    reply: StreamReply

    async def chunks() -> AsyncIterator[bytes]:
        reply.complete = True
        yield b"".join(events)

    async def aclose() -> None:
        return None

    reply = StreamReply(200, list(_SSE), chunks(), aclose)
    return reply


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
