"""The engine the pipeline calls: ``reserve`` before the upstream call, ``reconcile`` after it.

With a shared backend (Redis) it adds the outage policy: each call gets ``timeout`` seconds (enforced
by the backend itself when it can, see ``Backend.bound``, else by a timer per call); after a failure the
shared backend is skipped for ``retry_interval`` seconds, then one request probes it. While it is
unusable, ``fail_open`` decides with the local in-memory limiter (same limits times its ``share``) and
``fail_closed`` denies with ``limiter_unavailable``. Each transition is logged once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from brutor.limits.backend import Backend, BackendUnavailable
from brutor.limits.clock import Clock, MonotonicClock
from brutor.limits.decision import UNAVAILABLE, Decision, Reservation, unavailable
from brutor.limits.memory import MemoryBackend
from brutor.limits.spec import MAX_AMOUNT, LimitSet

FailPolicy = Literal["fail_open", "fail_closed"]
T = TypeVar("T")

# Longest a concurrency slot is held when its request is never settled (a crashed worker); callers pass
# their own upstream deadline plus a margin.
DEFAULT_LEASE = 900.0


@dataclass(slots=True)
class LimiterStats:
    """Counters for metrics. ``degraded`` is True while the shared backend is considered down."""

    redis_errors: int = 0
    fallbacks: int = 0  # reserves decided by the local limiter because the shared one was down
    lost_settlements: int = 0  # reconciles that could not reach the shared backend
    degraded: bool = False
    denials: dict[str, int] = field(default_factory=dict)  # by limit kind, and "limiter_unavailable"

    def snapshot(self) -> dict[str, object]:
        return {
            "redis_errors": self.redis_errors,
            "fallbacks": self.fallbacks,
            "lost_settlements": self.lost_settlements,
            "degraded": self.degraded,
            "denials": dict(self.denials),
        }


class RateLimiter:
    def __init__(
        self,
        local: MemoryBackend,
        shared: Backend | None = None,
        *,
        policy: FailPolicy = "fail_open",
        timeout: float = 0.075,
        retry_interval: float = 1.0,
        stats: LimiterStats | None = None,
        logger: logging.Logger | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._local = local
        self._shared = shared
        self._policy = policy
        self._timeout = timeout
        self._retry_ms = int(retry_interval * 1000)
        self.stats = stats if stats is not None else LimiterStats()
        self._log = logger if logger is not None else logging.getLogger("brutor.limits")
        self._clock = clock if clock is not None else MonotonicClock()
        self._probe_at = 0  # while degraded: when the shared backend may be tried again
        # A backend that bounds its own calls saves the engine a timer per call.
        self._timed = shared is not None and not shared.bound(timeout)

    async def reserve(
        self, limits: LimitSet, *, tokens: int, cost: int = 0, lease: float = DEFAULT_LEASE
    ) -> Decision:
        """Check ``limits`` for a request that may use ``tokens`` (prompt estimate + max_tokens) and
        ``cost`` micro-USD; if every limit allows it, reserve all of them. ``lease`` (seconds) bounds
        how long an unsettled concurrency slot is held."""
        _check_amount(tokens, cost)
        if not lease > 0:
            raise ValueError("lease must be positive")
        lease_ms = int(lease * 1000)
        shared = self._shared
        if shared is not None and limits.entries:
            if self._usable():
                try:
                    call = shared.reserve(limits, tokens=tokens, cost=cost, lease_ms=lease_ms)
                    decision = await (self._timed_call(call) if self._timed else call)
                except (BackendUnavailable, TimeoutError) as exc:
                    self._failed(exc)
                else:
                    self._recovered()
                    return self._count(decision)
            if self._policy == "fail_closed":
                return self._count(unavailable())
            self.stats.fallbacks += 1
        return self._count(self._local.reserve_now(limits, tokens=tokens, cost=cost, lease_ms=lease_ms))

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int = 0) -> None:
        """Settle with the usage actually seen (also for a cancelled stream: whatever was counted, maybe
        no completion at all). Never raises for an unreachable backend: the return path must finish."""
        if reservation.settled:
            return
        # Usage comes from the upstream: out-of-range values are clamped, not raised, on the return path.
        tokens = min(max(tokens, 0), MAX_AMOUNT)
        cost = min(max(cost, 0), MAX_AMOUNT)
        backend = reservation.backend
        if backend is self._local:
            self._local.reconcile_now(reservation, tokens=tokens, cost=cost)
            return
        assert backend is self._shared and self._shared is not None
        if not self._usable():
            # Its slots expire with their lease and its tokens stay charged at the estimate.
            reservation.settled = True
            self.stats.lost_settlements += 1
            return
        try:
            call = self._shared.reconcile(reservation, tokens=tokens, cost=cost)
            await (self._timed_call(call) if self._timed else call)
        except (BackendUnavailable, TimeoutError) as exc:
            reservation.settled = True
            self.stats.lost_settlements += 1
            self._failed(exc)
        else:
            self._recovered()

    def settle_now(self, reservation: Reservation, *, tokens: int, cost: int = 0) -> bool:
        """Settle without awaiting: on the local backend (no I/O), or by queueing the settlement on a
        healthy shared backend that bounds its own calls (the outcome is counted when the reply comes,
        as ``reconcile`` counts it). Saves the return path a task per request. False: nothing was
        done, use ``reconcile``."""
        if reservation.settled:
            return True
        tokens = min(max(tokens, 0), MAX_AMOUNT)
        cost = min(max(cost, 0), MAX_AMOUNT)
        backend = reservation.backend
        if backend is self._local:
            self._local.reconcile_now(reservation, tokens=tokens, cost=cost)
            return True
        shared = self._shared
        # Degraded: reconcile decides between a probe and a lost settlement. Timed: only a coroutine
        # can be bounded by the engine.
        if backend is not shared or shared is None or self.stats.degraded or self._timed:
            return False
        return shared.settle_nowait(reservation, tokens=tokens, cost=cost, done=self._settled)

    def _settled(self, exc: BackendUnavailable | None) -> None:
        if exc is None:
            self._recovered()
        else:
            self.stats.lost_settlements += 1
            self._failed(exc)

    async def release(self, reservation: Reservation) -> None:
        """Give everything back: the request never reached the upstream (the request still counts)."""
        await self.reconcile(reservation, tokens=0, cost=0)

    async def aclose(self) -> None:
        """Close the shared backend's connection (at shutdown; a later call would reconnect)."""
        if self._shared is not None:
            await self._shared.aclose()

    async def _timed_call(self, call: Awaitable[T]) -> T:
        async with asyncio.timeout(self._timeout):
            return await call

    def _usable(self) -> bool:
        if not self.stats.degraded:
            return True
        now = self._clock()
        if now < self._probe_at:
            return False
        self._probe_at = now + self._retry_ms  # one probe per interval, not one per waiting request
        return True

    def _failed(self, exc: BaseException) -> None:
        self.stats.redis_errors += 1
        self._probe_at = self._clock() + self._retry_ms
        if not self.stats.degraded:
            self.stats.degraded = True
            mode = "deciding locally" if self._policy == "fail_open" else "denying requests"
            self._log.warning("rate limiter: shared store unavailable (%s); %s", _describe(exc), mode)

    def _recovered(self) -> None:
        if self.stats.degraded:
            self.stats.degraded = False
            self._log.info("rate limiter: shared store reachable again")

    def _count(self, decision: Decision) -> Decision:
        denial = decision.denial
        if denial is not None:
            name = UNAVAILABLE if denial.kind is None else denial.kind.value
            self.stats.denials[name] = self.stats.denials.get(name, 0) + 1
        return decision


def _check_amount(tokens: int, cost: int) -> None:
    if not (0 <= tokens <= MAX_AMOUNT and 0 <= cost <= MAX_AMOUNT):
        raise ValueError(f"tokens and cost must be in 0..{MAX_AMOUNT}")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
