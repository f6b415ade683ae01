"""The cache stage: exact tier, then semantic tier; a hit answers without calling the provider.

After authorize and guard (a hit never serves a caller who may not use the model, and keys are made of
the redacted prompt). Bypassed (no lookup, no store) per ``brutor.cache.keys.bypass_reason``, and when the
semantic tier is on and the last user turn does not fit the embedder's window. A miss arms
``ctx.on_complete`` with a ``PendingStore``: the server hands it a complete, successful answer that no
response guardrail changed — a non-stream body, or the chunks of a stream that ended with ``[DONE]`` —
and the entry is stored then; never after an error, a cut stream or a client that left.
Any store, index or embedder failure bypasses the cache for that request (fail-open), is logged (at most
once a minute) and counted (``brutor_cache_errors_total``).
A streamed request that hits gets the cached answer re-streamed as ``chat.completion.chunk`` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from brutor.cache.config import CacheConfig
from brutor.cache.embedding import CacheEmbedder
from brutor.cache.entries import Entries, Entry, MemoryEntries
from brutor.cache.errors import CacheUnavailable
from brutor.cache.guard import guard
from brutor.cache.index import VectorIndex
from brutor.cache.journal import Invalidation, Journal
from brutor.cache.keys import bypass_reason, exact_key, last_user_text, semantic_scope
from brutor.cache.replay import replay
from brutor.cache.stream_answer import completion_from_stream
from brutor.context import RequestContext, Target, Usage
from brutor.pipeline.reply import Reply, StreamReply

log = logging.getLogger("brutor.cache")

_JSON = [("content-type", "application/json")]
ERRORS_METRIC = "brutor_cache_errors_total"
_LOG_EVERY = 60.0  # seconds; every failure is counted in the metric


class CacheStage:
    name = "cache"

    def __init__(
        self,
        cfg: CacheConfig,
        entries: Entries,
        index: VectorIndex | None,
        embedder: CacheEmbedder | None,
        *,
        metrics: Any = None,
        journal: Journal | None = None,
    ) -> None:
        self._cfg = cfg
        self._entries = entries
        self._index = index if cfg.semantic else None
        self._embedder = embedder if cfg.semantic else None
        self._metrics = metrics
        # Only per-process entry stores need other workers' invalidations.
        self._journal = journal if isinstance(entries, MemoryEntries) else None
        self._pending: set[asyncio.Task[None]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        # When the last "cache unavailable" line was logged (one line per minute at most in an outage).
        self._logged_at = -_LOG_EVERY

    @property
    def max_entry_bytes(self) -> int:
        return self._cfg.max_entry_bytes

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
        question = last_user_text(payload)
        embedder = self._embedder
        if reason is None and embedder is not None and question and not embedder.fits(question):
            # Its end would not be embedded: different questions would look the same.
            reason = "too-long"
        if reason is not None:
            self._mark(ctx, "bypass", reason)
            return None
        if self._journal is not None and (published := self._journal.poll()):
            await self._apply(published)
        tenant, model = principal.tenant, call.resource
        key = exact_key(tenant, model, payload)
        try:
            entry = await self._entries.get(tenant, model, key)
            if entry is not None:
                return self._hit(ctx, entry, 1.0, key)
            pending = PendingStore(self, key, tenant, model, question)
            found = await self._semantic(ctx, pending, payload)
        except CacheUnavailable as exc:
            self._failed("lookup", exc)
            self._mark(ctx, "unavailable", None)
            return None
        if found is not None:
            return self._hit(ctx, found[0], found[1], found[2])
        ctx.on_complete = pending
        self._mark(ctx, "miss", None, key)
        return None

    async def _semantic(
        self, ctx: RequestContext, pending: PendingStore, payload: dict[str, Any]
    ) -> tuple[Entry, float, str] | None:
        """The (entry, similarity, entry key) of a semantic hit; on a miss, ``pending`` learns the vector."""
        question, embedder, index = pending.question, self._embedder, self._index
        if embedder is None or index is None or not question:
            return None
        started = time.perf_counter()
        vector, embedder_id = await embedder.embed(question, pending.tenant)
        # Part of the cache stage's time, recorded apart (audit, metrics): what the embedder costs.
        ctx.stage_ms["embed"] = (time.perf_counter() - started) * 1000.0
        scope = semantic_scope(pending.tenant, pending.model, payload)
        pending.vector, pending.scope, pending.embedder_id = vector, scope, embedder_id
        near = await index.search(pending.tenant, scope, vector, self._cfg.threshold, embedder_id)
        if near is None:
            return None
        entry = await self._entries.get(pending.tenant, pending.model, near[0])
        # The guard refuses near-misses the embedding cannot tell apart (numbers, units, …).
        if entry is not None and entry.question is not None and guard(question, entry.question):
            return entry, near[1], near[0]
        return None

    def store_later(self, pending: PendingStore, body: bytes, usage: Usage) -> None:
        if len(body) > self._cfg.max_entry_bytes:
            return
        entry = Entry(
            tenant=pending.tenant,
            model=pending.model,
            body=body,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            created=time.time(),
            embedder_id=pending.embedder_id if pending.vector is not None else None,
            question=pending.question,
        )
        task = asyncio.get_running_loop().create_task(self._store(pending, entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _store(self, pending: PendingStore, entry: Entry) -> None:
        ttl = self._cfg.ttl_seconds
        try:
            await self._entries.put(pending.key, entry, ttl)
            if pending.vector is not None and pending.scope is not None and self._index is not None:
                assert entry.embedder_id is not None
                await self._index.add(
                    entry.tenant,
                    entry.model,
                    pending.scope,
                    pending.vector,
                    pending.key,
                    entry.embedder_id,
                    ttl,
                )
        except CacheUnavailable as exc:
            self._failed("store", exc)

    # -- admin and housekeeping ------------------------------------------------------------------------

    async def invalidate(self, tenant: str | None, model: str | None, key: str | None) -> int:
        """Drop cached answers of a tenant, a model (of one tenant or all) or one entry (``key`` needs
        both). Returns how many entries this worker's store (or the shared store) dropped; the other
        workers of this host drop theirs from the journal before their next lookup."""
        if tenant is None and model is None:
            raise ValueError("name a tenant, a model or both")
        if key is not None and (tenant is None or model is None):
            raise ValueError("an entry is named by tenant, model and key")
        entries, index = self._entries, self._index
        if isinstance(entries, MemoryEntries):
            when = time.time()
            if self._journal is not None:
                self._journal.publish(Invalidation(when, tenant, model, key))
            dropped = entries.drop(tenant, model, key, when)
        elif key is not None:
            assert tenant is not None and model is not None
            dropped = await entries.invalidate_entry(tenant, model, key)
        elif model is not None:
            dropped = await entries.invalidate_model(model, tenant)
        else:
            assert tenant is not None
            dropped = await entries.invalidate_tenant(tenant)
        if index is not None:
            # Vectors left behind would only point at missing entries (a miss), but they cost searches.
            await _remove_vectors(index, tenant, model, key)
        log.info("cache invalidated: tenant=%s model=%s key=%s (%d entries)", tenant, model, key, dropped)
        return dropped

    async def _apply(self, published: list[Invalidation]) -> None:
        """Other workers' (and this one's) invalidations, from the journal."""
        for inv in published:
            if isinstance(self._entries, MemoryEntries):
                self._entries.drop(inv.tenant, inv.model, inv.key, inv.before)
            if self._index is not None:
                with contextlib.suppress(CacheUnavailable):
                    await _remove_vectors(self._index, inv.tenant, inv.model, inv.key)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the periodic purge of expired entries and vectors (searches already skip them; the
        purge frees their memory, or the Qdrant points that would otherwise stay for good)."""
        if self._housekeeping is None:
            self._housekeeping = loop.create_task(self._purge_loop())

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self._cfg.purge_interval_seconds)
            try:
                await self.purge_expired()
            except CacheUnavailable as exc:
                self._failed("purge", exc)
            except Exception:  # the loop must outlive any one failure
                log.exception("cache purge failed")

    async def purge_expired(self) -> int:
        purged = 0
        if isinstance(self._entries, MemoryEntries):
            purged += self._entries.purge_expired()
        if self._index is not None:
            purged += await self._index.purge_expired()
        return purged

    async def aclose(self) -> None:
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
            self._housekeeping = None
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._journal is not None:
            self._journal.close()
        close = getattr(self._embedder, "close", None)
        if close is not None:
            close()

    # -- helpers ---------------------------------------------------------------------------------------

    def _failed(self, operation: str, exc: Exception) -> None:
        if self._metrics is not None:
            self._metrics.inc(ERRORS_METRIC, (operation,))
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            log.warning("cache unavailable (%s): requests bypass it until it answers again", exc)
            self._logged_at = now

    def _mark(self, ctx: RequestContext, status: str, reason: str | None, key: str | None = None) -> None:
        ctx.cache_status = status
        if status == "unavailable":
            status, reason = "bypass", "unavailable"
        value = status if reason is None else f"{status}; reason={reason}"
        headers: tuple[tuple[str, str], ...] = (("x-brutor-cache", value),)
        if key is not None:
            headers += (("x-brutor-cache-key", key),)
        ctx.response_headers = (*ctx.response_headers, *headers)

    def _hit(self, ctx: RequestContext, entry: Entry, similarity: float, key: str) -> Reply | StreamReply:
        ctx.cache_status = "hit"
        ctx.cache_saved = (entry.prompt_tokens, entry.completion_tokens)
        age = max(0, int(time.time() - entry.created))
        ctx.response_headers = (
            *ctx.response_headers,
            ("x-brutor-cache", f"hit; similarity={similarity:.4f}"),
            ("x-brutor-cache-key", key),
            ("age", str(age)),
        )
        assert ctx.call is not None
        ctx.mark_first_token()
        if not ctx.call.stream:
            return Reply(200, list(_JSON), entry.body)
        options = ctx.call.payload.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        return replay(entry, with_usage)


class PendingStore:
    """What a miss needs to be stored once its answer is complete (``ctx.on_complete``)."""

    __slots__ = ("embedder_id", "key", "model", "question", "scope", "stage", "tenant", "vector")

    def __init__(self, stage: CacheStage, key: str, tenant: str, model: str, question: str | None) -> None:
        self.stage = stage
        self.key = key
        self.tenant = tenant
        self.model = model
        self.question = question
        self.vector: bytes | None = None
        self.scope: str | None = None
        self.embedder_id: str | None = None

    def answer(self, body: bytes, usage: Usage) -> None:
        """A complete non-stream ``chat.completion`` body as sent to the client."""
        self.stage.store_later(self, body, usage)

    def stream(self, chunks: list[bytes], usage: Usage) -> None:
        """The chunks of a stream that completed (``[DONE]`` excluded), as sent to the client."""
        body = completion_from_stream(chunks, usage, self.stage.max_entry_bytes)
        if body is not None:
            self.stage.store_later(self, body, usage)


async def _remove_vectors(index: VectorIndex, tenant: str | None, model: str | None, key: str | None) -> None:
    if key is not None and tenant is not None:
        await index.remove_entry(tenant, key)
    elif model is not None:
        await index.remove_model(model, tenant)
    elif tenant is not None:
        await index.remove_tenant(tenant)
