"""Passive health per deployment (this worker's view): outlier ejection with a circuit breaker.

Closed: traffic flows. After ``failures`` consecutive failures the deployment is ejected (open) for
``open_seconds``, doubled at each further ejection up to ``max_open_seconds``. When that time is up it is
half-open: exactly one request is let through as a probe; success closes the breaker (and resets the
ejection count), failure opens it again for longer. Also kept here: requests in flight (least-busy) and
an EWMA of time to first byte (lowest-latency).
"""

from __future__ import annotations

import time

from brutor.routing.config import BreakerConfig

_EWMA_ALPHA = 0.2

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Health:
    __slots__ = ("_cfg", "_ejections", "_open_until", "_probing", "ewma_ms", "failures", "inflight")

    def __init__(self, cfg: BreakerConfig) -> None:
        self._cfg = cfg
        self.failures = 0
        self._ejections = 0
        self._open_until = 0.0
        self._probing = False
        self.inflight = 0
        # None until the first success: unknown deployments are tried first by the latency strategy.
        self.ewma_ms: float | None = None

    def state(self, now: float | None = None) -> str:
        if self._open_until == 0.0:
            return CLOSED
        now = time.monotonic() if now is None else now
        return OPEN if now < self._open_until or self._probing else HALF_OPEN

    def admits_peek(self, now: float | None = None) -> bool:
        """Would a request be admitted (without claiming the half-open probe)?"""
        return self.state(now) != OPEN

    def admits(self, now: float | None = None) -> bool:
        """May a request go here now? Claims the probe when half-open."""
        state = self.state(now)
        if state == CLOSED:
            return True
        if state == HALF_OPEN:
            self._probing = True
            return True
        return False

    def success(self, ttfb_ms: float) -> None:
        self.failures = 0
        self._ejections = 0
        self._open_until = 0.0
        self._probing = False
        prev = self.ewma_ms
        self.ewma_ms = ttfb_ms if prev is None else prev + _EWMA_ALPHA * (ttfb_ms - prev)

    def failure(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.failures += 1
        if self._probing or self.failures >= self._cfg.failures:
            seconds = min(self._cfg.max_open_seconds, self._cfg.open_seconds * (2**self._ejections))
            self._ejections += 1
            self._open_until = now + seconds
            self._probing = False
            self.failures = 0
