"""The contract both backends meet; the engine (``engine.RateLimiter``) talks only to this."""

from __future__ import annotations

from typing import Protocol

from brutor.limits.decision import Decision, Reservation
from brutor.limits.spec import LimitSet


class BackendUnavailable(Exception):
    """The shared store could not answer (connection, timeout, server error)."""


class Backend(Protocol):
    async def reserve(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        """Check every limit and, only if all pass, take ``tokens``/``cost`` (micro-USD), one request and
        one concurrency slot (held until ``now + lease_ms`` at most) from each; atomically."""
        ...

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        """Settle a reservation with the actual usage: refund or charge the difference, free the slots.
        A second call is a no-op."""
        ...
