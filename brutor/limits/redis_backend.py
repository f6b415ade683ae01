"""The Redis backend: counters shared by every worker and host, one script call per reserve/reconcile.

Keys are ``<prefix>{<subject>}:<kind>[:<window>]``: the subject is the hash tag, so a subject's counters
share a cluster slot. A request's limits usually span several subjects (key, tenant, model), and one
script may only touch one slot, so on Redis Cluster every subject of a request must hash alike; this
version targets a single primary (with replicas/Sentinel), where all of that is moot.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from brutor.limits import lua
from brutor.limits.backend import BackendUnavailable
from brutor.limits.clock import DAY_MS, CalendarWindows, Clock, wall_clock_ms
from brutor.limits.decision import Decision, Reservation, decide
from brutor.limits.spec import (
    BUDGET_COST,
    BUDGET_TOKENS,
    DAY,
    NO_WINDOW,
    RATE_TOKENS,
    SLOTS,
    Entry,
    LimitSet,
)

DEFAULT_PREFIX = "brutor:rl:"


def connect(url: str, *, timeout: float = 0.075, max_connections: int = 64) -> Redis:
    """A client for the limiter: short timeouts and no retries, because the caller has a fallback and a
    request must not wait on Redis for longer than the configured budget."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        max_connections=max_connections,
    )


class _Script:
    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class RedisBackend:
    """Counters in Redis. Time comes from ``clock`` (wall clock by default, shared across hosts) and is
    passed into the scripts, so tests control it and a host whose clock lags never drains buckets."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock = wall_clock_ms,
        budget_grace_ms: int = DAY_MS,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock
        # Budget counters outlive their window by this much so late settlements and reports find them.
        self._grace = budget_grace_ms
        self._windows = CalendarWindows()
        self._tag = secrets.token_hex(6) + "-"
        self._ids = itertools.count()
        self._reserve = _Script(lua.RESERVE)
        self._reconcile = _Script(lua.RECONCILE)
        self._inspect = _Script(lua.INSPECT)

    async def reserve(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        now = self._clock()
        day, day_end = self._windows.day(now) if limits.needs_day else ("", 0)
        month, month_end = self._windows.month(now) if limits.needs_month else ("", 0)
        rid = f"{self._tag}{next(self._ids)}"
        keys = self._keys(limits.entries, day, month)
        args = (now, rid, now + lease_ms, tokens, cost, self._grace, limits.spec, day_end, month_end)
        raw = [int(v) for v in (await self._eval(self._reserve, keys, args)).split()]
        if not raw[0]:
            return decide(limits, raw, None)
        return decide(limits, raw, Reservation(self, rid, limits, tokens, cost, day, month, now + lease_ms))

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        if reservation.settled:
            return
        reservation.settled = True
        d_tokens = tokens - reservation.tokens
        d_cost = cost - reservation.cost
        # Only counters with work to do: requests per minute and exact estimates need no settlement.
        todo = [
            e
            for e in reservation.limits.entries
            if e.code == SLOTS
            or (d_tokens and (e.code == RATE_TOKENS or e.code == BUDGET_TOKENS))
            or (d_cost and e.code == BUDGET_COST)
        ]
        if todo:
            keys = self._keys(todo, reservation.day, reservation.month)
            spec = " ".join(e.spec for e in todo)
            await self._eval(self._reconcile, keys, (self._clock(), reservation.id, d_tokens, d_cost, spec))

    async def inspect(self, limits: LimitSet) -> list[int]:
        """Raw counters, as ``MemoryBackend.inspect``."""
        now = self._clock()
        day = self._windows.day(now)[0] if limits.needs_day else ""
        month = self._windows.month(now)[0] if limits.needs_month else ""
        keys = self._keys(limits.entries, day, month)
        return [int(v) for v in await self._eval(self._inspect, keys, (now, limits.spec))]

    def _keys(self, entries: Iterable[Entry], day: str, month: str) -> list[str]:
        prefix = self._prefix
        return [
            prefix + e.key
            if e.window == NO_WINDOW
            else f"{prefix}{e.key}:{day if e.window == DAY else month}"
            for e in entries
        ]

    async def _eval(self, script: _Script, keys: list[str], args: tuple[int | str, ...]) -> Any:
        """EVALSHA; on NOSCRIPT (a restarted or flushed server) EVAL, which also caches the script."""
        try:
            try:
                return await self._client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self._client.eval(script.source, len(keys), *keys, *args)
        except (RedisError, OSError) as exc:
            raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from exc
