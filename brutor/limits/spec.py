"""What a limit is, and the compiled set of limits one request is checked against.

A limit is a kind (what is counted, over which window) and a number; it applies to a subject, an opaque
string such as ``key:abc``, ``tenant:acme``, ``model:gpt-4o`` or ``tenant:acme|model:gpt-4o``. Subjects end
up in Redis keys and in denial messages, so they must name things (ids), never carry secrets.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

# Rate windows are one minute; the bucket level is kept in unit·milliseconds so that every quantity is an
# integer, identical in Python and in Redis' Lua (doubles, exact below 2**53).
RATE_PERIOD_MS = 60_000
MAX_RATE_LIMIT = 10**11  # 10**11 * 60_000 = 6e15 < 2**53
MAX_BUDGET_LIMIT = 10**15
# Per-request amounts (tokens, micro-USD); bounds keep every level below 2**53 even with overage.
MAX_AMOUNT = 10**9


class LimitKind(enum.StrEnum):
    RPM = "rpm"
    TPM = "tpm"
    CONCURRENCY = "concurrency"
    TOKENS_PER_DAY = "tokens_per_day"
    TOKENS_PER_MONTH = "tokens_per_month"
    COST_PER_DAY = "cost_per_day"  # micro-USD
    COST_PER_MONTH = "cost_per_month"  # micro-USD


# How a counter behaves; the Lua scripts switch on these numbers. Plain ints (not IntEnum): they are
# sent to Redis as arguments and compared in the per-request loop.
RATE_REQUESTS: Final = 1
RATE_TOKENS: Final = 2
SLOTS: Final = 3
BUDGET_TOKENS: Final = 4
BUDGET_COST: Final = 5

NO_WINDOW: Final = 0
DAY: Final = 1
MONTH: Final = 2

_BEHAVIOUR: dict[LimitKind, tuple[int, int]] = {
    LimitKind.RPM: (RATE_REQUESTS, NO_WINDOW),
    LimitKind.TPM: (RATE_TOKENS, NO_WINDOW),
    LimitKind.CONCURRENCY: (SLOTS, NO_WINDOW),
    LimitKind.TOKENS_PER_DAY: (BUDGET_TOKENS, DAY),
    LimitKind.TOKENS_PER_MONTH: (BUDGET_TOKENS, MONTH),
    LimitKind.COST_PER_DAY: (BUDGET_COST, DAY),
    LimitKind.COST_PER_MONTH: (BUDGET_COST, MONTH),
}


@dataclass(frozen=True, slots=True)
class LimitSpec:
    kind: LimitKind
    limit: int

    def __post_init__(self) -> None:
        code, _ = _BEHAVIOUR[self.kind]
        if isinstance(self.limit, bool) or not isinstance(self.limit, int):
            raise TypeError(f"{self.kind}: limit must be an int")
        if code <= RATE_TOKENS:
            # A rate of 0 would never refill; refuse the model in authorize instead.
            if not 1 <= self.limit <= MAX_RATE_LIMIT:
                raise ValueError(f"{self.kind}: limit must be in 1..{MAX_RATE_LIMIT}")
        elif not 0 <= self.limit <= MAX_BUDGET_LIMIT:
            raise ValueError(f"{self.kind}: limit must be in 0..{MAX_BUDGET_LIMIT}")


class Entry(NamedTuple):
    """One compiled limit. ``key`` is the backend-neutral counter name (backends add prefix and window)."""

    subject: str
    kind: LimitKind
    limit: int
    code: int
    window: int
    key: str
    spec: str  # "code:limit:window", the form the Redis scripts read


class LimitSet:
    """The limits one request is checked against, compiled once and reusable across requests.

    Two limits of the same kind on the same subject would share one counter, so only the tighter one is
    kept. Build one per (key, model) combination and cache it: compiling costs more than checking.
    """

    __slots__ = ("_scaled", "entries", "needs_day", "needs_month", "rates", "spec")

    def __init__(self, limits: Iterable[tuple[str, LimitSpec]]) -> None:
        tightest: dict[tuple[str, LimitKind], int] = {}
        for subject, spec in limits:
            if not subject:
                raise ValueError("a limit needs a non-empty subject")
            k = (subject, spec.kind)
            if k not in tightest or spec.limit < tightest[k]:
                tightest[k] = spec.limit
        self.entries: tuple[Entry, ...] = tuple(
            _entry(subject, kind, limit) for (subject, kind), limit in tightest.items()
        )
        self.spec = " ".join(e.spec for e in self.entries)
        # (counts requests?, limit) of the per-minute limits, in order: they feed the response headers.
        self.rates = tuple((e.code == RATE_REQUESTS, e.limit) for e in self.entries if e.code <= RATE_TOKENS)
        self.needs_day = any(e.window == DAY for e in self.entries)
        self.needs_month = any(e.window == MONTH for e in self.entries)
        self._scaled: dict[float, LimitSet] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"LimitSet({[(e.subject, e.kind.value, e.limit) for e in self.entries]!r})"

    def specs(self) -> list[tuple[str, LimitSpec]]:
        return [(e.subject, LimitSpec(e.kind, e.limit)) for e in self.entries]

    def scaled(self, share: float) -> LimitSet:
        """This set with every limit multiplied by ``share`` (a worker's part of a shared limit)."""
        if share == 1.0:
            return self
        cached = self._scaled.get(share)
        if cached is None:
            cached = self._scaled[share] = LimitSet(
                (e.subject, LimitSpec(e.kind, _share_of(e.limit, e.code, share))) for e in self.entries
            )
        return cached


def _entry(subject: str, kind: LimitKind, limit: int) -> Entry:
    code, window = _BEHAVIOUR[kind]
    return Entry(
        subject, kind, limit, code, window, f"{{{subject}}}:{kind.value}", f"{code}:{limit}:{window}"
    )


def _share_of(limit: int, code: int, share: float) -> int:
    part = int(limit * share)
    # Rates and slots keep at least one unit so a worker is never locked out entirely.
    return max(part, 1) if code <= SLOTS and limit > 0 else part
