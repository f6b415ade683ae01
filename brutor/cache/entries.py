"""Cached answers and the embedded (in-process) entry store.

An entry lives for an absolute TTL from when it was stored: a hit never extends it, so a wrong answer
that gets hit often still expires (RedisVL's semantic cache refreshes on every hit; see CACHE.md).

Tenant isolation is enforced twice: the tenant is part of the store key, and the stored value names
its tenant and model, checked on every read. A key collision (or a bug in key building) can then only
cause a miss, never another tenant's answer.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

__all__ = ["Entries", "Entry", "MemoryEntries", "decode_entry", "encode_entry"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached answer: the upstream's ``chat.completion`` JSON as sent to the client."""

    tenant: str
    model: str
    body: bytes
    prompt_tokens: int = 0
    completion_tokens: int = 0
    created: float = 0.0  # wall-clock seconds when stored (for the Age header and the audit record)
    embedder_id: str | None = None  # set when the entry is also reachable by similarity
    # The last user turn it answered: a semantic hit must also pass the lexical guard against it.
    question: str | None = None


def encode_entry(entry: Entry) -> bytes:
    """A JSON header line, then the body bytes unchanged (no re-encoding of the answer on a hit).
    orjson never writes a raw newline, so the first one ends the header."""
    header = orjson.dumps(
        {
            "tenant": entry.tenant,
            "model": entry.model,
            "prompt_tokens": entry.prompt_tokens,
            "completion_tokens": entry.completion_tokens,
            "created": entry.created,
            "embedder_id": entry.embedder_id,
            "question": entry.question,
        }
    )
    return header + b"\n" + entry.body


def decode_entry(value: bytes) -> Entry | None:
    """The entry of ``encode_entry``, or None for bytes in any other form (treated as a miss)."""
    header, sep, body = value.partition(b"\n")
    if not sep:
        return None
    try:
        doc = orjson.loads(header)
        return Entry(
            tenant=str(doc["tenant"]),
            model=str(doc["model"]),
            body=body,
            prompt_tokens=int(doc["prompt_tokens"]),
            completion_tokens=int(doc["completion_tokens"]),
            created=float(doc["created"]),
            embedder_id=doc["embedder_id"] if isinstance(doc["embedder_id"], str) else None,
            question=doc["question"] if isinstance(doc.get("question"), str) else None,
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def owned(entry: Entry | None, tenant: str, model: str) -> Entry | None:
    """``entry`` if it belongs to ``tenant`` and ``model``, else None (the read-side isolation check)."""
    if entry is None or entry.tenant != tenant or entry.model != model:
        return None
    return entry


class Entries(Protocol):
    """An entry store. Every method may raise ``CacheUnavailable``.

    ``key`` is the exact key (``keys.exact_key``) or the entry key a vector index returned; the store
    always scopes it by ``tenant`` and ``model``.
    """

    async def get(self, tenant: str, model: str, key: str) -> Entry | None: ...

    async def put(self, key: str, entry: Entry, ttl: float) -> None:
        """Store ``entry`` for ``ttl`` seconds from now (absolute: hits do not extend it)."""

    async def invalidate_entry(self, tenant: str, model: str, key: str) -> int: ...

    async def invalidate_tenant(self, tenant: str) -> int: ...

    async def invalidate_model(self, model: str, tenant: str | None = None) -> int:
        """Drop ``model``'s entries, of one tenant or of all; returns how many were dropped."""


class MemoryEntries:
    """The embedded store: a dict bounded to ``max_entries`` by least-recent use, expiry checked on
    read against ``clock`` (seconds, monotonic by default)."""

    def __init__(self, max_entries: int = 10_000, *, clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[tuple[str, str, str], tuple[float, Entry]] = OrderedDict()

    def slot(self, tenant: str, model: str, key: str) -> tuple[str, str, str]:
        """Where an entry is kept; a method so tests can force collisions."""
        return (tenant, model, key)

    def __len__(self) -> int:
        return len(self._data)

    async def get(self, tenant: str, model: str, key: str) -> Entry | None:
        slot = self.slot(tenant, model, key)
        item = self._data.get(slot)
        if item is None:
            return None
        expires, entry = item
        if self._clock() >= expires:
            del self._data[slot]
            return None
        found = owned(entry, tenant, model)
        if found is not None:
            self._data.move_to_end(slot)
        return found

    async def put(self, key: str, entry: Entry, ttl: float) -> None:
        if not ttl > 0:
            raise ValueError("ttl must be positive")
        slot = self.slot(entry.tenant, entry.model, key)
        self._data[slot] = (self._clock() + ttl, entry)
        self._data.move_to_end(slot)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    async def invalidate_entry(self, tenant: str, model: str, key: str) -> int:
        slot = self.slot(tenant, model, key)
        item = self._data.get(slot)
        if item is None or owned(item[1], tenant, model) is None:
            return 0
        del self._data[slot]
        return 1

    async def invalidate_tenant(self, tenant: str) -> int:
        return self._drop(lambda e: e.tenant == tenant)

    async def invalidate_model(self, model: str, tenant: str | None = None) -> int:
        return self._drop(lambda e: e.model == model and (tenant is None or e.tenant == tenant))

    def drop(self, tenant: str | None, model: str | None, key: str | None, before: float) -> int:
        """Drop the entries matching every given field that were stored at or before ``before``
        (wall-clock seconds): a journalled invalidation (``brutor.cache.journal``) applied by a worker."""
        doomed = [
            slot
            for slot, (_, entry) in self._data.items()
            if entry.created <= before
            and (tenant is None or entry.tenant == tenant)
            and (model is None or entry.model == model)
            and (key is None or slot[2] == key)
        ]
        for slot in doomed:
            del self._data[slot]
        return len(doomed)

    def purge_expired(self) -> int:
        """Drop expired entries (reads already skip them), for the periodic housekeeping task."""
        now = self._clock()
        doomed = [slot for slot, (expires, _) in self._data.items() if expires <= now]
        for slot in doomed:
            del self._data[slot]
        return len(doomed)

    def _drop(self, match: Callable[[Entry], bool]) -> int:
        doomed = [slot for slot, (_, entry) in self._data.items() if match(entry)]
        for slot in doomed:
            del self._data[slot]
        return len(doomed)
