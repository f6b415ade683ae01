"""Every limit kind on both backends, with an injected clock: allow, deny, roll over, settle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from limits_support import Harness

from brutor.limits import (
    BUDGET_EXCEEDED,
    RATE_LIMITED,
    TOO_LARGE,
    LimitKind,
    LimitSet,
    LimitSpec,
    RateInfo,
)

K = LimitKind


def one(subject: str, kind: LimitKind, limit: int) -> LimitSet:
    return LimitSet([(subject, LimitSpec(kind, limit))])


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_rpm_bucket_denies_then_refills(backend: Harness) -> None:
    limits = one("key:a", K.RPM, 3)
    infos = [backend.reserve(limits).requests for _ in range(3)]
    assert infos == [RateInfo(3, 2, 20_000), RateInfo(3, 1, 40_000), RateInfo(3, 0, 60_000)]
    denied = backend.reserve(limits)
    assert not denied.allowed and denied.reservation is None
    assert denied.denial is not None
    assert (denied.denial.code, denied.denial.kind, denied.denial.subject) == (RATE_LIMITED, K.RPM, "key:a")
    assert denied.denial.retry_after_ms == 20_000
    assert denied.requests == RateInfo(3, 0, 60_000)
    backend.clock.advance(19_999)
    assert not backend.reserve(limits).allowed
    backend.clock.advance(1)
    assert backend.reserve(limits).allowed
    backend.clock.advance(60_000)  # a full minute refills the whole bucket, no more
    assert [backend.reserve(limits).allowed for _ in range(4)] == [True, True, True, False]


def test_rpm_counts_a_request_whatever_its_usage(backend: Harness) -> None:
    limits = one("key:a", K.RPM, 1)
    d = backend.reserve(limits, tokens=50)
    backend.reconcile(d.reservation, tokens=0)
    assert not backend.reserve(limits).allowed


def test_tpm_reserves_estimate_and_refills_continuously(backend: Harness) -> None:
    limits = one("tenant:t", K.TPM, 1000)
    assert backend.reserve(limits, tokens=600).tokens == RateInfo(1000, 400, 36_000)
    d = backend.reserve(limits, tokens=500)
    assert d.denial is not None and d.denial.kind == K.TPM
    assert d.denial.retry_after_ms == 6_000  # 100 tokens at 1000/min
    assert d.tokens == RateInfo(1000, 400, 36_000)
    backend.clock.advance(6_000)
    assert backend.reserve(limits, tokens=500).allowed


def test_tpm_refund_and_overage_on_reconcile(backend: Harness) -> None:
    limits = one("tenant:t", K.TPM, 1000)
    d = backend.reserve(limits, tokens=900)
    backend.reconcile(d.reservation, tokens=150)  # refund 750
    assert backend.inspect(limits) == [150 * 60_000]
    d2 = backend.reserve(limits, tokens=850)
    assert d2.allowed
    backend.reconcile(d2.reservation, tokens=1250)  # overage of 400 is charged, beyond the limit
    assert backend.inspect(limits) == [1400 * 60_000]
    denied = backend.reserve(limits, tokens=0)  # over the limit: even a zero-token request waits
    assert denied.denial is not None and denied.denial.retry_after_ms == 24_000
    backend.clock.advance(24_000)
    assert backend.reserve(limits, tokens=0).allowed


def test_refund_never_drives_a_counter_below_zero(backend: Harness) -> None:
    limits = LimitSet([("t", LimitSpec(K.TPM, 100)), ("t", LimitSpec(K.TOKENS_PER_DAY, 100))])
    d = backend.reserve(limits, tokens=100)
    backend.clock.advance(60_000)  # bucket drained meanwhile
    backend.reconcile(d.reservation, tokens=0)
    assert backend.inspect(limits) == [0, 0]


def test_request_larger_than_limit_is_too_large(backend: Harness) -> None:
    d = backend.reserve(one("tenant:t", K.TPM, 1000), tokens=1001)
    assert d.denial is not None
    assert (d.denial.code, d.denial.kind, d.denial.retry_after_ms) == (TOO_LARGE, K.TPM, 0)


def test_concurrency_slots_are_released_on_reconcile(backend: Harness) -> None:
    limits = one("key:a", K.CONCURRENCY, 2)
    first, second = backend.reserve(limits), backend.reserve(limits)
    assert first.allowed and second.allowed
    third = backend.reserve(limits)
    assert third.denial is not None and third.denial.kind == K.CONCURRENCY
    assert third.denial.retry_after_ms == 1_000
    backend.reconcile(first.reservation, tokens=10)
    assert backend.inspect(limits) == [1]
    assert backend.reserve(limits).allowed
    backend.reconcile(first.reservation, tokens=10)  # settling twice is a no-op
    assert not backend.reserve(limits).allowed


def test_leaked_concurrency_slots_expire_with_their_lease(backend: Harness) -> None:
    limits = one("key:a", K.CONCURRENCY, 2)
    backend.reserve(limits, lease_ms=5_000)  # never settled: its worker "crashed"
    backend.reserve(limits, lease_ms=9_000)
    assert not backend.reserve(limits).allowed
    backend.clock.advance(4_999)
    assert backend.inspect(limits) == [2]
    backend.clock.advance(1)
    assert backend.inspect(limits) == [1]
    assert backend.reserve(limits, lease_ms=60_000).allowed
    assert not backend.reserve(limits).allowed
    backend.clock.advance(4_000)
    assert backend.reserve(limits).allowed


def test_daily_token_budget_rolls_over_at_utc_midnight(backend: Harness) -> None:
    limits = one("tenant:t", K.TOKENS_PER_DAY, 1000)
    backend.clock.now = at("2025-03-14T23:59:59")
    d = backend.reserve(limits, tokens=1000)
    assert d.allowed
    denied = backend.reserve(limits, tokens=1)
    assert denied.denial is not None
    assert (denied.denial.code, denied.denial.kind) == (BUDGET_EXCEEDED, K.TOKENS_PER_DAY)
    assert denied.denial.retry_after_ms == 1_000
    backend.clock.advance(1_000)
    assert backend.reserve(limits, tokens=400).allowed
    # A settlement after midnight corrects yesterday's counter, not today's.
    backend.reconcile(d.reservation, tokens=10)
    assert backend.inspect(limits) == [400]


def test_monthly_cost_budget_rolls_over_including_the_year(backend: Harness) -> None:
    limits = one("tenant:t", K.COST_PER_MONTH, 5_000_000)  # $5 in micro-USD
    backend.clock.now = at("2025-12-31T23:00:00")
    assert backend.reserve(limits, cost=3_000_000).allowed
    denied = backend.reserve(limits, cost=2_500_000)
    assert denied.denial is not None and denied.denial.kind == K.COST_PER_MONTH
    assert denied.denial.retry_after_ms == 3_600_000
    backend.clock.now = at("2026-01-01T00:00:00")
    assert backend.reserve(limits, cost=5_000_000).allowed


def test_monthly_tokens_and_daily_cost(backend: Harness) -> None:
    limits = LimitSet(
        [("tenant:t", LimitSpec(K.TOKENS_PER_MONTH, 100)), ("tenant:t", LimitSpec(K.COST_PER_DAY, 50))]
    )
    d = backend.reserve(limits, tokens=100, cost=40)
    backend.reconcile(d.reservation, tokens=60, cost=20)
    assert backend.inspect(limits) == [60, 20]
    denied = backend.reserve(limits, tokens=10, cost=31)
    assert denied.denial is not None and denied.denial.kind == K.COST_PER_DAY
    backend.clock.advance(86_400_000)  # next day: the cost budget is fresh, the month is not
    assert backend.reserve(limits, tokens=40, cost=31).allowed
    assert backend.inspect(limits) == [100, 31]


def test_all_or_nothing_across_subjects(backend: Harness) -> None:
    limits = LimitSet(
        [
            ("key:a", LimitSpec(K.RPM, 10)),
            ("key:a", LimitSpec(K.CONCURRENCY, 5)),
            ("tenant:t", LimitSpec(K.TOKENS_PER_DAY, 10_000)),
            ("model:m", LimitSpec(K.TPM, 100)),
        ]
    )
    assert backend.reserve(limits, tokens=60).allowed
    before = backend.inspect(limits)
    denied = backend.reserve(limits, tokens=60)  # only the model's TPM is short
    assert denied.denial is not None and (denied.denial.kind, denied.denial.subject) == (K.TPM, "model:m")
    assert backend.inspect(limits) == before
    assert backend.reserve(limits, tokens=40).allowed
    assert backend.inspect(limits) == [2 * 60_000, 2, 100, 100 * 60_000]


def test_the_longest_wait_is_reported_and_too_large_wins(backend: Harness) -> None:
    limits = LimitSet([("key:a", LimitSpec(K.RPM, 2)), ("tenant:t", LimitSpec(K.TPM, 600))])
    assert backend.reserve(limits, tokens=600).allowed
    assert backend.reserve(limits, tokens=0).allowed
    d = backend.reserve(limits, tokens=100)  # RPM waits 30 s, TPM 10 s
    assert d.denial is not None and (d.denial.kind, d.denial.retry_after_ms) == (K.RPM, 30_000)
    d = backend.reserve(limits, tokens=600)  # RPM waits 30 s, TPM 60 s
    assert d.denial is not None and (d.denial.kind, d.denial.retry_after_ms) == (K.TPM, 60_000)
    d = backend.reserve(limits, tokens=601)
    assert d.denial is not None and (d.denial.code, d.denial.kind) == (TOO_LARGE, K.TPM)


def test_headers_report_the_most_constraining_limit(backend: Harness) -> None:
    limits = LimitSet(
        [
            ("key:a", LimitSpec(K.RPM, 100)),
            ("tenant:t", LimitSpec(K.RPM, 10)),
            ("key:a", LimitSpec(K.TPM, 1000)),
            ("model:m", LimitSpec(K.TPM, 100_000)),
        ]
    )
    d = backend.reserve(limits, tokens=500)
    assert d.requests == RateInfo(10, 9, 6_000)
    assert d.tokens == RateInfo(1000, 500, 30_000)


def test_subjects_are_independent(backend: Harness) -> None:
    a, b = one("key:a", K.RPM, 1), one("key:b", K.RPM, 1)
    assert backend.reserve(a).allowed and backend.reserve(b).allowed
    assert not backend.reserve(a).allowed


def test_an_empty_limit_set_allows_everything(backend: Harness) -> None:
    d = backend.reserve(LimitSet([]), tokens=10**6)
    assert d.allowed and d.requests is None and d.tokens is None
    backend.reconcile(d.reservation, tokens=5)


@pytest.mark.parametrize("kind", [K.CONCURRENCY, K.TOKENS_PER_DAY, K.COST_PER_MONTH])
def test_zero_budget_denies(backend: Harness, kind: LimitKind) -> None:
    d = backend.reserve(one("tenant:t", kind, 0), tokens=1, cost=1)
    assert d.denial is not None and d.denial.code == TOO_LARGE
