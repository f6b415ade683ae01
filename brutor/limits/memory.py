"""The in-memory backend: one process, no I/O. The embedded default, and Redis' fail-open fallback.

It mirrors ``lua.RESERVE`` / ``lua.RECONCILE`` line for line (same integer arithmetic, same order of
checks) so both backends reach the same decision on the same sequence; tests/limits check that.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

from brutor.limits.backend import Settled
from brutor.limits.clock import CalendarWindows, Clock, MonotonicClock
from brutor.limits.decision import SLOT_RETRY_MS, Decision, Reservation, decide
from brutor.limits.spec import (
    BUDGET_TOKENS,
    DAY,
    RATE_PERIOD_MS,
    RATE_REQUESTS,
    RATE_TOKENS,
    SLOTS,
    LimitSet,
)

P = RATE_PERIOD_MS


class _Slots:
    """Live concurrency reservations of one subject: id -> expiry, and a lower bound of the expiries."""

    __slots__ = ("members", "soonest")

    def __init__(self) -> None:
        self.members: dict[str, int] = {}
        self.soonest = 1 << 62

    def purge(self, now: int) -> None:
        if now >= self.soonest:  # nothing can have expired before the soonest lease
            self.members = {rid: exp for rid, exp in self.members.items() if exp > now}
            self.soonest = min(self.members.values(), default=1 << 62)


class MemoryBackend:
    """Counters in dicts; atomic because asyncio runs one reserve at a time and nothing here awaits.

    ``share`` scales every limit (``1/workers`` when it stands in for a limit shared through Redis).
    """

    def __init__(self, clock: Clock | None = None, *, share: float = 1.0, sweep_every: int = 4096) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError("share must be in (0, 1]")
        self._clock = clock if clock is not None else MonotonicClock()
        self._share = share
        self._windows = CalendarWindows()
        self._rates: dict[str, list[int]] = {}  # key -> [level (unit·ms), t (ms), limit]
        self._slots: dict[str, _Slots] = {}
        self._budgets: dict[str, tuple[str, int, int]] = {}  # key -> (window id, used, window end)
        self._tag = secrets.token_hex(4) + "-"
        self._ids = itertools.count()
        self._sweep_every = sweep_every
        self._until_sweep = sweep_every

    def bound(self, timeout: float) -> bool:
        return True  # nothing here waits

    async def aclose(self) -> None:
        pass

    async def reserve(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        return self.reserve_now(limits, tokens=tokens, cost=cost, lease_ms=lease_ms)

    async def reconcile(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        self.reconcile_now(reservation, tokens=tokens, cost=cost)

    def settle_nowait(self, reservation: Reservation, *, tokens: int, cost: int, done: Settled) -> bool:
        self.reconcile_now(reservation, tokens=tokens, cost=cost)
        done(None)
        return True

    def reserve_now(self, limits: LimitSet, *, tokens: int, cost: int, lease_ms: int) -> Decision:
        now = self._clock()
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self.sweep(now)
        if self._share != 1.0:
            limits = limits.scaled(self._share)
        day, day_end = self._windows.day(now) if limits.needs_day else ("", 0)
        month, month_end = self._windows.month(now) if limits.needs_month else ("", 0)
        head = [1, 0, 0, 0]
        before: list[int] = []  # remaining, reset of each per-minute limit as things stand (on a denial)
        after: list[int] = []  # ... once this request is counted (when it is allowed)
        writes: list[tuple[dict[str, Any], str, Any]] = []  # applied only if every limit passes
        slots: list[_Slots] = []
        best = -1.0
        for i, (_, _, limit, code, window, key, _) in enumerate(limits.entries):
            if code <= RATE_TOKENS:
                amount = 1 if code == RATE_REQUESTS else tokens
                verdict = self._check_rate(limit, key, amount, now, writes, before, after)
            elif code == SLOTS:
                verdict = self._check_slots(limit, key, now, slots)
            else:
                wid, end = (day, day_end) if window == DAY else (month, month_end)
                amount = tokens if code == BUDGET_TOKENS else cost
                verdict = self._check_budget(limit, key, amount, wid, end, now, writes)
            if verdict:
                rank = float("inf") if verdict < 0 else verdict
                if rank > best:
                    best = rank
                    head = [0, i + 1, 0, 1] if verdict < 0 else [0, i + 1, verdict, 0]
        if not head[0]:
            return decide(limits, head + before, None)
        rid = f"{self._tag}{next(self._ids)}"
        expires = now + lease_ms
        for target, key, value in writes:
            target[key] = value
        for held in slots:
            held.members[rid] = expires
            if expires < held.soonest:
                held.soonest = expires
        return decide(limits, head + after, Reservation(self, rid, limits, tokens, cost, day, month, expires))

    # Each check returns 0 if the limit passes, the wait in ms if it does not yet, -1 if it never will
    # (the request alone exceeds the limit), and queues the counter's new value for the commit.

    def _check_rate(
        self,
        limit: int,
        key: str,
        amount: int,
        now: int,
        writes: list[Any],
        before: list[int],
        after: list[int],
    ) -> int:
        level, t = self._drained(key, limit, now)
        cap = limit * P
        need = level + amount * P
        before += (max(0, (cap - level) // P), -(-level // limit))
        if need <= cap:
            writes.append((self._rates, key, [need, t, limit]))
            after += ((cap - need) // P, -(-need // limit))
            return 0
        after += (0, 0)
        return -1 if amount > limit else -(-(need - cap) // limit)

    def _drained(self, key: str, limit: int, now: int) -> tuple[int, int]:
        """(level, t) of a bucket drained up to ``now``; a clock behind the last writer drains nothing.

        Read-only, like the script's check phase: a denied request must leave the state as it was."""
        state = self._rates.get(key)
        if state is None:
            return 0, now
        level, t = state[0], state[1]
        if now > t:
            level -= (now - t) * limit
            return (level if level > 0 else 0), now
        return level, t

    def _check_slots(self, limit: int, key: str, now: int, held: list[_Slots]) -> int:
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = _Slots()
        if now >= slots.soonest:
            slots.purge(now)
        if len(slots.members) < limit:
            held.append(slots)
            return 0
        return -1 if limit == 0 else SLOT_RETRY_MS

    def _check_budget(
        self, limit: int, key: str, amount: int, wid: str, end: int, now: int, writes: list[Any]
    ) -> int:
        state = self._budgets.get(key)
        used = state[1] if state is not None and state[0] == wid else 0
        if used + amount <= limit:
            writes.append((self._budgets, key, (wid, used + amount, end)))
            return 0
        return -1 if amount > limit else end - now

    def reconcile_now(self, reservation: Reservation, *, tokens: int, cost: int) -> None:
        """Settle a reservation with the usage seen (refund or charge the difference; free its slots)."""
        if reservation.settled:
            return
        reservation.settled = True
        d_tokens = tokens - reservation.tokens
        d_cost = cost - reservation.cost
        for _, _, limit, code, window, key, _ in reservation.limits.entries:
            if code == RATE_TOKENS and d_tokens:
                level, t = self._drained(key, limit, self._clock())
                level += d_tokens * P
                if level > 0:
                    self._rates[key] = [level, t, limit]
                else:
                    self._rates.pop(key, None)
            elif code == SLOTS:
                slots = self._slots.get(key)
                if slots is not None:
                    slots.members.pop(reservation.id, None)
            elif code >= BUDGET_TOKENS:
                delta = d_tokens if code == BUDGET_TOKENS else d_cost
                wid = reservation.day if window == DAY else reservation.month
                state = self._budgets.get(key)
                # A window that has since rolled over keeps its count; the new one is not touched.
                if delta and state is not None and state[0] == wid:
                    self._budgets[key] = (wid, max(0, state[1] + delta), state[2])

    def inspect(self, limits: LimitSet) -> list[int]:
        """Raw counters, for tests and admin views: rate kinds in unit·ms (÷60000 = units in the bucket),
        concurrency as live slots, budgets as used in the current window."""
        now = self._clock()
        if self._share != 1.0:
            limits = limits.scaled(self._share)
        out: list[int] = []
        for e in limits.entries:
            if e.code <= RATE_TOKENS:
                out.append(self._drained(e.key, e.limit, now)[0])
            elif e.code == SLOTS:
                slots = self._slots.get(e.key)
                out.append(0 if slots is None else sum(exp > now for exp in slots.members.values()))
            else:
                wid, _ = self._windows.day(now) if e.window == DAY else self._windows.month(now)
                state = self._budgets.get(e.key)
                out.append(state[1] if state is not None and state[0] == wid else 0)
        return out

    def sweep(self, now: int) -> None:
        """Forget counters that equal their empty state (drained buckets, no live slots, past windows)."""
        self._until_sweep = self._sweep_every
        self._rates = {k: s for k, s in self._rates.items() if s[0] - max(0, now - s[1]) * s[2] > 0}
        for slots in self._slots.values():
            slots.purge(now)
        self._slots = {k: s for k, s in self._slots.items() if s.members}
        self._budgets = {k: s for k, s in self._budgets.items() if s[2] > now}
