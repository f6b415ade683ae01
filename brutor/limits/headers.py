"""OpenAI-style rate-limit headers from a ``Decision``.

Resets are Go duration strings, as OpenAI sends them (``17ms``, ``1s``, ``1.5s``, ``6m0s``, ``1h2m3s``):
the time until the bucket is full again. ``retry-after`` is whole seconds (HTTP); ``retry-after-ms`` is
what the OpenAI SDKs read first.
"""

from __future__ import annotations

from brutor.limits.decision import Decision, Denial, RateInfo


def format_duration(ms: int) -> str:
    if ms <= 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, frac = divmod(rest, 1000)
    secs = f"{seconds}.{frac:03d}".rstrip("0") if frac else str(seconds)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rate_limit_headers(decision: Decision) -> tuple[tuple[str, str], ...]:
    """``x-ratelimit-*`` for the most constraining requests-per-minute and tokens-per-minute limits."""
    out: list[tuple[str, str]] = []
    _add(out, "requests", decision.requests)
    _add(out, "tokens", decision.tokens)
    return tuple(out)


def retry_headers(denial: Denial) -> tuple[tuple[str, str], ...]:
    """``retry-after`` for a denial waiting can cure; none for a request too large to ever pass."""
    ms = denial.retry_after_ms
    if ms <= 0:
        return ()
    return (("retry-after", str(-(-ms // 1000))), ("retry-after-ms", str(ms)))


def _add(out: list[tuple[str, str]], unit: str, info: RateInfo | None) -> None:
    if info is not None:
        out += (
            (f"x-ratelimit-limit-{unit}", str(info.limit)),
            (f"x-ratelimit-remaining-{unit}", str(info.remaining)),
            (f"x-ratelimit-reset-{unit}", format_duration(info.reset_ms)),
        )
