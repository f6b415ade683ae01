"""The Redis backend: counters shared by every worker and host, one script call per reserve/reconcile.

Keys are ``<prefix>{<subject>}:<kind>[:<window>]``: the subject is the hash tag, so a subject's counters
share a cluster slot. A request's limits usually span several subjects (key, tenant, model), and one
script may only touch one slot, so on Redis Cluster every subject of a request must hash alike; this
version targets a single primary (with replicas/Sentinel), where all of that is moot.

Commands go through ``redis_client.RedisClient`` (one pipelined connection per worker). Their constant
parts (keys, limit specs, budget window ends) are encoded once per limit set and window, so a request
encodes only its handful of integers, and a settlement can be queued without awaiting (``settle_nowait``,
used by ``RateLimiter.settle_now`` on the return path).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
from collections.abc import Iterable
from typing import Any, NamedTuple

from brutor.limits import lua, resp
from brutor.limits.backend import BackendUnavailable, Settled
from brutor.limits.clock import DAY_MS, CalendarWindows, Clock, wall_clock_ms
from brutor.limits.decision import Decision, Reservation, decide
from brutor.limits.redis_client import RedisClient
from brutor.limits.resp import NoScriptError, RedisError
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
# Encoded-call cache entries (limit sets x windows x settlement shapes) before it is cleared.
_CALLS_MAX = 4096


def connect(url: str, *, timeout: float = 0.075) -> RedisClient:
    """A client for the limiter: short timeouts and no retries, because the caller has a fallback and a
    request must not wait on Redis for longer than the configured budget. Connects on first use."""
    return RedisClient(url, timeout=timeout)


class _Script:
    """A script and its two names on the wire (EVALSHA by hash, EVAL by source), encoded once."""

    __slots__ = ("by_sha", "by_source", "sha")

    def __init__(self, source: str) -> None:
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self.by_sha = resp.bulk("EVALSHA") + resp.bulk(self.sha)
        self.by_source = resp.bulk("EVAL") + resp.bulk(source)


class _Call(NamedTuple):
    """The constant parts of a script call for one limit set and its budget windows, encoded once: most
    of the command is keys and limits, so per request only a few integers are encoded."""

    head: bytes  # the array header: "*<number of arguments>"
    keys: bytes  # numkeys and the keys
    tail: bytes  # the constant arguments after the per-request ones
    empty: bool  # no keys: nothing to do


class RedisBackend:
    """Counters in Redis. Time comes from ``clock`` (wall clock by default, shared across hosts) and is
    passed into the scripts, so tests control it and a host whose clock lags never drains buckets."""

    def __init__(
        self,
        client: RedisClient,
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
        # Keyed by (limit set, day, month[, settles tokens, settles cost]). Limit sets are compiled once
        # and cached by the policy, so this stays small; the calendar windows change it daily.
        self._calls: dict[tuple[object, ...], _Call] = {}

    def bound(self, timeout: float) -> bool:
        """The client bounds every command by its deadline check, without a timer per call: lowered to
        the engine's timeout, that replaces the engine's own."""
        self._client.timeout = min(self._client.timeout, timeout)
        return True

    async def aclose(self) -> None:
        await self._client.aclose()

    async def reserve(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        now = self._clock()
        day, day_end = self._windows.day(now) if limits.needs_day else ("", 0)
        month, month_end = self._windows.month(now) if limits.needs_month else ("", 0)
        call = self._calls.get((limits, day, month))
        if call is None:
            tail = (self._grace, limits.spec, day_end, month_end)
            call = self._cache((limits, day, month), self._encode(limits.entries, day, month, 5, tail))
        rid = f"{self._tag}{next(self._ids)}"
        expires = now + lease_ms
        reply = await self._eval(self._reserve, call, resp.bulks(now, rid, expires, tokens, cost))
        raw = [int(v) for v in reply.split()]
        if not raw[0]:
            return decide(limits, raw, None)
        return decide(limits, raw, Reservation(self, rid, limits, tokens, cost, day, month, expires))

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        if reservation.settled:
            return
        reservation.settled = True
        call, args = self._settlement(reservation, tokens, cost)
        if not call.empty:
            await self._eval(self._reconcile, call, args)

    def settle_nowait(self, reservation: Reservation, *, tokens: int, cost: int, done: Settled) -> bool:
        if reservation.settled:
            done(None)
            return True
        call, args = self._settlement(reservation, tokens, cost)
        if call.empty:
            reservation.settled = True
            done(None)
            return True
        body = call.keys + args + call.tail
        sent = self._client.send_now(call.head + self._reconcile.by_sha + body)
        if sent is None:
            return False  # not connected: reconcile (re)connects
        reservation.settled = True
        by_source = call.head + self._reconcile.by_source + body
        sent.add_done_callback(lambda f: self._nowait_done(f, by_source, done))
        return True

    def _nowait_done(self, fut: asyncio.Future[Any], by_source: bytes | None, done: Settled) -> None:
        exc = None if fut.cancelled() else fut.exception()
        if by_source is not None and isinstance(exc, NoScriptError):
            # As _eval: the server lost the script, EVAL loads it. Rare, so a task is fine here.
            retry = asyncio.ensure_future(self._client.send(by_source))
            retry.add_done_callback(lambda f: self._nowait_done(f, None, done))
            return
        if fut.cancelled():
            done(BackendUnavailable("settlement cancelled"))
        elif exc is not None:
            done(BackendUnavailable(f"{type(exc).__name__}: {exc}"))
        else:
            done(None)

    def _settlement(self, reservation: Reservation, tokens: int, cost: int) -> tuple[_Call, bytes]:
        d_tokens = tokens - reservation.tokens
        d_cost = cost - reservation.cost
        limits, day, month = reservation.limits, reservation.day, reservation.month
        ident = (limits, day, month, d_tokens != 0, d_cost != 0)
        call = self._calls.get(ident)
        if call is None:
            # Only counters with work to do: requests per minute and exact estimates need no settlement.
            todo = [
                e
                for e in limits.entries
                if e.code == SLOTS
                or (d_tokens and (e.code == RATE_TOKENS or e.code == BUDGET_TOKENS))
                or (d_cost and e.code == BUDGET_COST)
            ]
            call = self._cache(ident, self._encode(todo, day, month, 4, (" ".join(e.spec for e in todo),)))
        if call.empty:
            return call, b""
        return call, resp.bulks(self._clock(), reservation.id, d_tokens, d_cost)

    async def inspect(self, limits: LimitSet) -> list[int]:
        """Raw counters, as ``MemoryBackend.inspect``."""
        now = self._clock()
        day = self._windows.day(now)[0] if limits.needs_day else ""
        month = self._windows.month(now)[0] if limits.needs_month else ""
        call = self._encode(limits.entries, day, month, 2, ())
        return [int(v) for v in await self._eval(self._inspect, call, resp.bulks(now, limits.spec))]

    def _encode(
        self, entries: Iterable[Entry], day: str, month: str, per_request: int, tail: tuple[int | str, ...]
    ) -> _Call:
        prefix = self._prefix
        keys = [
            prefix + e.key
            if e.window == NO_WINDOW
            else f"{prefix}{e.key}:{day if e.window == DAY else month}"
            for e in entries
        ]
        # Arguments: EVALSHA, the script, numkeys, the keys, the per-request ones, the constant tail.
        count = 3 + len(keys) + per_request + len(tail)
        return _Call(
            b"*%d\r\n" % count,
            b"".join([resp.bulk(len(keys)), *map(resp.bulk, keys)]),
            b"".join(map(resp.bulk, tail)),
            not keys,
        )

    def _cache(self, ident: tuple[object, ...], call: _Call) -> _Call:
        if len(self._calls) >= _CALLS_MAX:
            self._calls.clear()
        self._calls[ident] = call
        return call

    async def _eval(self, script: _Script, call: _Call, args: bytes) -> Any:
        """EVALSHA; on NOSCRIPT (a restarted or flushed server) EVAL, which also caches the script."""
        client = self._client
        try:
            try:
                return await client.send(b"".join((call.head, script.by_sha, call.keys, args, call.tail)))
            except NoScriptError:
                return await client.send(b"".join((call.head, script.by_source, call.keys, args, call.tail)))
        except RedisError as exc:
            raise BackendUnavailable(f"{type(exc).__name__}: {exc}") from exc
