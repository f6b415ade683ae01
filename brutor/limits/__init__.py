"""Rate limits and quotas: requests/tokens per minute, concurrency, daily and monthly token and cost
budgets, per subject (key, user, tenant, model), reserved before the upstream call and settled after.

Build once at start-up: a ``RateLimiter`` over a ``MemoryBackend`` (embedded default) and optionally a
``RedisBackend`` (``brutor.limits.redis_backend``, shared by all workers, over the limiter's own
pipelining RESP client in ``redis_client``; imported only when used);
compile each request's limits into a ``LimitSet`` (cacheable).

Algorithms, and why:
- Per-minute limits are token buckets in GCRA form: capacity = the limit, refilled continuously at
  limit/60 s, state = (level, last update) as integers in unit·ms. O(1) state and work, exact integer
  arithmetic in Python and Lua alike, refunds are a subtraction, and "time until full" is OpenAI's
  ``x-ratelimit-reset-*``. A full minute's burst is allowed, then the rate; in any 60 s window at most
  burst + refill pass (the two-fixed-window counter has the same worst case, the exact sliding log
  costs one entry per request).
- Concurrency: the live reservation ids, each with a lease expiry (a Redis sorted set scored by expiry,
  pruned in the same script), so a crashed worker's slots free themselves.
- Budgets: one counter per UTC calendar day or month (the window is part of the key), kept a grace
  period after the window ends. Settlement corrects the window the reservation was charged to.
"""

from brutor.limits.backend import Backend, BackendUnavailable
from brutor.limits.clock import Clock, MonotonicClock, wall_clock_ms
from brutor.limits.decision import (
    BUDGET_EXCEEDED,
    RATE_LIMITED,
    TOO_LARGE,
    UNAVAILABLE,
    Decision,
    Denial,
    RateInfo,
    Reservation,
)
from brutor.limits.engine import DEFAULT_LEASE, FailPolicy, LimiterStats, RateLimiter
from brutor.limits.headers import format_duration, rate_limit_headers, retry_headers
from brutor.limits.memory import MemoryBackend
from brutor.limits.spec import LimitKind, LimitSet, LimitSpec

__all__ = [
    "BUDGET_EXCEEDED",
    "DEFAULT_LEASE",
    "RATE_LIMITED",
    "TOO_LARGE",
    "UNAVAILABLE",
    "Backend",
    "BackendUnavailable",
    "Clock",
    "Decision",
    "Denial",
    "FailPolicy",
    "LimitKind",
    "LimitSet",
    "LimitSpec",
    "LimiterStats",
    "MemoryBackend",
    "MonotonicClock",
    "RateInfo",
    "RateLimiter",
    "Reservation",
    "format_duration",
    "rate_limit_headers",
    "retry_headers",
    "wall_clock_ms",
]
