"""Clocks in integer epoch milliseconds, and the UTC calendar windows of daily and monthly budgets.

Both backends take the time from an injected clock (never from Redis) so tests control it and every
decision is a pure function of (state, request, now).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], int]

DAY_MS = 86_400_000


def wall_clock_ms() -> int:
    """Wall-clock epoch ms: the time base shared by every worker on every host that uses one Redis."""
    return time.time_ns() // 1_000_000


class MonotonicClock:
    """Epoch ms that never steps backwards: the wall clock read once, then advanced by the monotonic one.

    For a single process (the in-memory limiter) an NTP step must not refill or drain buckets; anchoring
    to the epoch once still gives the right calendar day and month.
    """

    __slots__ = ("_origin",)

    def __init__(self) -> None:
        self._origin = time.time_ns() // 1_000_000 - time.monotonic_ns() // 1_000_000

    def __call__(self) -> int:
        return self._origin + time.monotonic_ns() // 1_000_000


class CalendarWindows:
    """The current UTC day and month as ``(id, end_ms)``, recomputed only when the clock leaves them."""

    __slots__ = ("_day", "_month")

    def __init__(self) -> None:
        self._day = (0, 0, "")  # start_ms, end_ms, id
        self._month = (0, 0, "")

    def day(self, now_ms: int) -> tuple[str, int]:
        start, end, ident = self._day
        if not start <= now_ms < end:
            start = now_ms - now_ms % DAY_MS
            end = start + DAY_MS
            ident = time.strftime("%Y-%m-%d", time.gmtime(start // 1000))
            self._day = (start, end, ident)
        return ident, end

    def month(self, now_ms: int) -> tuple[str, int]:
        start, end, ident = self._month
        if not start <= now_ms < end:
            t = datetime.fromtimestamp(now_ms // 1000, UTC)
            first = datetime(t.year, t.month, 1, tzinfo=UTC)
            after = datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)
            start, end = int(first.timestamp()) * 1000, int(after.timestamp()) * 1000
            ident = f"{t.year:04d}-{t.month:02d}"
            self._month = (start, end, ident)
        return ident, end
