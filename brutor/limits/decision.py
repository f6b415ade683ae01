"""What a backend answers: allowed with a reservation to settle later, or denied naming one limit.

Both backends return the same flat list of integers (the Lua script's reply shape) and share
``decide`` to turn it into a ``Decision``, so the in-memory and Redis paths cannot drift apart here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from brutor.limits.spec import BUDGET_TOKENS, LimitKind, LimitSet

# Concurrency has no refill time to compute; a short hint, since slots free as requests finish.
SLOT_RETRY_MS = 1_000
# The shared store is retried about this often (engine.RateLimiter's default retry_interval).
UNAVAILABLE_RETRY_MS = 1_000

RATE_LIMITED = "rate_limit_exceeded"
BUDGET_EXCEEDED = "budget_exceeded"
TOO_LARGE = "request_too_large"
UNAVAILABLE = "limiter_unavailable"


class RateInfo(NamedTuple):
    """Data for the ``x-ratelimit-*-requests`` or ``-tokens`` headers of the most constraining limit."""

    limit: int
    remaining: int
    reset_ms: int  # until the bucket is full again (OpenAI's "reset")


class Denial(NamedTuple):
    """Why a request was refused. ``code`` is one of the module constants; kind/subject name the limit
    (``None`` for ``limiter_unavailable``). ``retry_after_ms`` is 0 when waiting cannot help."""

    code: str
    kind: LimitKind | None
    subject: str | None
    retry_after_ms: int

    @property
    def retry_after(self) -> float:
        return self.retry_after_ms / 1000.0

    def message(self) -> str:
        if self.code == UNAVAILABLE:
            return "Rate limits cannot be checked right now. Please try again shortly."
        what = f"{self.kind} limit for {self.subject}"
        if self.code == TOO_LARGE:
            return f"Request too large for the {what}; reduce the prompt or max_tokens."
        which = "Rate" if self.code == RATE_LIMITED else "Budget"
        return f"{which} {what} reached. Please try again in {self.retry_after:.3g}s."


class Reservation:
    """What one allowed request holds until ``reconcile``: settled at most once."""

    __slots__ = ("backend", "cost", "day", "expires_ms", "id", "limits", "month", "settled", "tokens")

    def __init__(
        self,
        backend: object,
        rid: str,
        limits: LimitSet,
        tokens: int,
        cost: int,
        day: str,
        month: str,
        expires_ms: int,
    ) -> None:
        self.backend = backend  # who must settle it (the shared backend or the local fallback)
        self.id = rid
        self.limits = limits
        self.tokens = tokens
        self.cost = cost
        self.day = day  # budget windows charged, so a settlement after midnight corrects the right day
        self.month = month
        self.expires_ms = expires_ms  # when an unsettled concurrency slot frees itself
        self.settled = False

    def __repr__(self) -> str:
        return f"Reservation({self.id!r}, tokens={self.tokens}, cost={self.cost}, settled={self.settled})"


class Decision(NamedTuple):
    reservation: Reservation | None
    denial: Denial | None
    requests: RateInfo | None
    tokens: RateInfo | None

    @property
    def allowed(self) -> bool:
        return self.denial is None


def unavailable() -> Decision:
    return Decision(None, Denial(UNAVAILABLE, None, None, UNAVAILABLE_RETRY_MS), None, None)


def decide(limits: LimitSet, raw: Sequence[int], reservation: Reservation | None) -> Decision:
    """``raw`` = [allowed, denied index (1-based), retry ms, too large, then remaining and reset of each
    per-minute limit in ``limits.rates`` order]: after this request if allowed, as things stand if not."""
    requests = tokens = None
    pos = 4
    for counts_requests, limit in limits.rates:
        remaining = raw[pos]
        if counts_requests:
            if requests is None or remaining < requests.remaining:
                requests = RateInfo(limit, remaining, raw[pos + 1])
        elif tokens is None or remaining < tokens.remaining:
            tokens = RateInfo(limit, remaining, raw[pos + 1])
        pos += 2
    if raw[0]:
        return Decision(reservation, None, requests, tokens)
    e = limits.entries[raw[1] - 1]
    code = TOO_LARGE if raw[3] else BUDGET_EXCEEDED if e.code >= BUDGET_TOKENS else RATE_LIMITED
    return Decision(None, Denial(code, e.kind, e.subject, int(raw[2])), requests, tokens)
