"""The contract both backends meet; the engine (``engine.RateLimiter``) talks only to this."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from brutor.limits.decision import Decision, Reservation
from brutor.limits.spec import LimitSet


class BackendUnavailable(Exception):
    """The shared store could not answer (connection, timeout, server error)."""


# Told how a settlement queued by ``Backend.settle_nowait`` ended: None, or why it failed.
Settled = Callable[[BackendUnavailable | None], None]


class Backend(Protocol):
    async def reserve(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        """Check every limit and, only if all pass, take ``tokens``/``cost`` (micro-USD), one request and
        one concurrency slot (held until ``now + lease_ms`` at most) from each; atomically."""
        ...

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        """Settle a reservation with the actual usage: refund or charge the difference, free the slots.
        A second call is a no-op."""
        ...

    def settle_nowait(self, reservation: Reservation, *, tokens: int, cost: int, done: Settled) -> bool:
        """``reconcile`` without a coroutine (and the return path without a task per request): if it
        can be queued right now, mark the reservation settled, queue it and return True; ``done`` is
        called once it is over. False: nothing was done, call ``reconcile``."""
        ...

    async def aclose(self) -> None:
        """Release connections (a later call may open them again)."""
        ...

    def bound(self, timeout: float) -> bool:
        """Make every later call end (with a result or ``BackendUnavailable``) within ``timeout``
        seconds, if this backend can without a timer per call; False: the engine wraps each call in
        ``asyncio.timeout`` (a timer armed and cancelled per call, ~4 µs)."""
        ...
