"""The shared entry store on Redis, through the project's lean RESP client.

Layout: one string per entry, ``{prefix}{tenant}:{model}:{key}``, each part percent-encoded (no ``:``
or glob character survives), written with ``SET ... PX ttl``: Redis expires it at an absolute time and
a GET never touches the TTL.

Invalidation walks the tenant's (or model's) keys with ``SCAN MATCH``. Index sets per tenant and model
would make invalidation cheaper but cost two more writes on every store, keep members of entries that
expired on their own (sets that grow until pruned), and need a script to keep set and entry
consistent; invalidation is a rare admin action, and SCAN costs nothing on the request path.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote

from brutor.cache.entries import Entry, decode_entry, encode_entry, owned
from brutor.cache.errors import CacheUnavailable
from brutor.limits.redis_client import RedisClient
from brutor.limits.resp import RedisError

__all__ = ["RedisEntries"]

_SCAN_COUNT = 1000
_GLOB_SPECIAL = frozenset("*?[]\\")


def _part(value: str) -> str:
    return quote(value, safe="")


def _glob_literal(value: str) -> str:
    return "".join("\\" + c if c in _GLOB_SPECIAL else c for c in value)


class RedisEntries:
    """Entries in Redis under ``prefix`` (e.g. ``"brutor:cache:"``). Every Redis failure is raised as
    ``CacheUnavailable``."""

    def __init__(self, client: RedisClient, prefix: str = "brutor:cache:") -> None:
        self._client = client
        self.prefix = prefix

    def slot(self, tenant: str, model: str, key: str) -> str:
        """The Redis key of an entry; a method so tests can force collisions."""
        return f"{self.prefix}{_part(tenant)}:{_part(model)}:{_part(key)}"

    async def get(self, tenant: str, model: str, key: str) -> Entry | None:
        value = await self._run(self._client.execute("GET", self.slot(tenant, model, key)))
        if not isinstance(value, bytes):
            return None
        return owned(decode_entry(value), tenant, model)

    async def put(self, key: str, entry: Entry, ttl: float) -> None:
        ms = int(ttl * 1000)
        if ms < 1:
            raise ValueError("ttl must be at least a millisecond")
        slot = self.slot(entry.tenant, entry.model, key)
        await self._run(self._client.execute("SET", slot, encode_entry(entry), "PX", ms))

    async def ttl_ms(self, tenant: str, model: str, key: str) -> int:
        """Milliseconds left (Redis PTTL: -2 when absent), for tests and the admin API."""
        reply = await self._run(self._client.execute("PTTL", self.slot(tenant, model, key)))
        return int(reply)

    async def invalidate_entry(self, tenant: str, model: str, key: str) -> int:
        slot = self.slot(tenant, model, key)
        value = await self._run(self._client.execute("GET", slot))
        # Only an entry that really is this tenant's may be removed in its name.
        if not isinstance(value, bytes) or owned(decode_entry(value), tenant, model) is None:
            return 0
        return int(await self._run(self._client.execute("UNLINK", slot)))

    async def invalidate_tenant(self, tenant: str) -> int:
        return await self._drop(f"{_glob_literal(self.prefix)}{_glob_literal(_part(tenant))}:*")

    async def invalidate_model(self, model: str, tenant: str | None = None) -> int:
        # Parts hold no ':', so "*" in the tenant position can only span exactly one tenant.
        owner = "*" if tenant is None else _glob_literal(_part(tenant))
        return await self._drop(f"{_glob_literal(self.prefix)}{owner}:{_glob_literal(_part(model))}:*")

    async def _drop(self, pattern: str) -> int:
        dropped = 0
        cursor = b"0"
        while True:
            reply = await self._run(
                self._client.execute("SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT)
            )
            cursor, keys = reply[0], reply[1]
            if keys:
                dropped += int(await self._run(self._client.execute("UNLINK", *keys)))
            if cursor == b"0":
                return dropped

    @staticmethod
    async def _run(reply: Awaitable[Any]) -> Any:
        try:
            return await reply
        except RedisError as exc:
            raise CacheUnavailable(f"cache store unavailable: {exc}") from exc
