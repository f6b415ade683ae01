"""Call: execute the routed request against its deployments and hand back a Reply or a StreamReply.

Attempts go down the plan's order (wrapping around for retries on a single deployment) up to the
alias's ``max_attempts``. A retryable failure — 408/429/5xx/529 from the upstream, a timeout or a
connection error — before anything reached the client moves on to the next attempt after a backoff with
jitter (or the upstream's Retry-After, when short enough). This is the stream-integrity contract: a
provider returns a StreamReply only once the upstream's first chunk is in hand, and from then on a
failure ends the stream with an error event — never a fallback, a clean ``[DONE]`` or a silent cut.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, Protocol

from brutor.context import RequestContext
from brutor.errors import GatewayError, internal_error
from brutor.pipeline.reply import Reply, StreamReply
from brutor.pipeline.route import RoutePlan
from brutor.routing import transforms
from brutor.routing.config import RoutingConfig, Transforms
from brutor.routing.plan import Target

RETRYABLE_STATUS = frozenset((408, 429, 500, 502, 503, 504, 529))
RETRYABLE_CODES = frozenset(("upstream_unreachable", "upstream_timeout"))


class Caller(Protocol):
    async def __call__(self, ctx: RequestContext, plan: object) -> Reply | StreamReply: ...


def _retry_after_ms(headers: Any) -> float | None:
    for name, value in headers or ():
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value) * 1000.0)
            except ValueError:
                return None  # an HTTP date: treated as "not soon"
    return None


class LlmCaller:
    name = "call"

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # jitter, not security

    async def __call__(self, ctx: RequestContext, plan: object) -> Reply | StreamReply:
        call = ctx.call
        if call is None or not isinstance(plan, RoutePlan):
            raise internal_error()
        route, order = plan.route, plan.order
        policy = route.policy
        failure: Reply | StreamReply | GatewayError | None = None
        attempts = policy.max_attempts or len(order)
        for attempt in range(attempts):
            target = order[attempt % len(order)]
            target.health.admits()  # claims the probe of a half-open breaker
            started = time.perf_counter()
            try:
                reply = await self._attempt(ctx, target, route.transforms)
            except GatewayError as exc:
                if exc.code not in RETRYABLE_CODES and exc.status not in RETRYABLE_STATUS:
                    raise
                target.health.failure()
                failure, retry_after = exc, _retry_after_ms(exc.headers)
            else:
                if reply.status not in RETRYABLE_STATUS:
                    if reply.status < 400:
                        # Time to the whole answer, or to a stream's first chunk (providers return a
                        # StreamReply once it is in hand): what the latency strategy compares.
                        target.health.success((time.perf_counter() - started) * 1000.0)
                    return reply
                target.health.failure()
                failure, retry_after = reply, _retry_after_ms(reply.headers)
            if attempt + 1 >= attempts:
                break
            switching = order[(attempt + 1) % len(order)] is not target
            if not await self._backoff(policy, attempt, retry_after, switching):
                break
        assert failure is not None
        if isinstance(failure, GatewayError):
            raise failure
        return failure

    async def _attempt(self, ctx: RequestContext, target: Target, route_t: Transforms) -> Reply | StreamReply:
        call = ctx.call
        assert call is not None
        deployment = target.deployment
        payload = call.payload
        if not route_t.empty:
            payload = transforms.apply(payload, route_t)
        if not target.transforms.empty:
            payload = transforms.apply(payload, target.transforms)
        ctx.deployment = deployment.key
        # A failed attempt's error must not stick to a later success (audit, metrics, breaker blame).
        ctx.error_code = None
        ctx.ttft_ms = None
        if route_t.headers or target.transforms.headers:
            ctx.upstream_headers = {**route_t.headers, **target.transforms.headers}
        else:
            ctx.upstream_headers = None
        health = target.health
        health.inflight += 1
        try:
            provider = deployment.provider
            if call.operation == "chat.completions":
                reply = await provider.chat(ctx, deployment, payload)
            elif call.operation == "embeddings":
                reply = await provider.embeddings(ctx, deployment, payload)
            else:
                raise internal_error()
        except BaseException:
            health.inflight -= 1
            raise
        if isinstance(reply, StreamReply):
            # In flight until the stream is closed (least-busy counts streams, not just their start).
            close = reply.aclose

            async def aclose() -> None:
                try:
                    await close()
                finally:
                    health.inflight -= 1

            reply.aclose = aclose
        else:
            health.inflight -= 1
        guard = ctx.output_guard
        # The tenant's response policy (armed by the guard stage) sees the answer before the client does.
        return reply if guard is None else guard.apply(ctx, reply)

    async def _backoff(
        self, policy: RoutingConfig, attempt: int, retry_after: float | None, switching: bool
    ) -> bool:
        """Wait before the next attempt: exponential with jitter, or the upstream's Retry-After when it is
        short enough. False (give up) when the same deployment asked for a longer wait than allowed; a
        different next deployment is tried without waiting for the failed one's Retry-After."""
        delay = min(policy.max_backoff_ms, policy.backoff_ms * (2**attempt)) * (0.5 + self._rng.random() / 2)
        if retry_after is not None and not switching:
            if retry_after > policy.max_retry_after_ms:
                return False
            delay = max(delay, retry_after)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        return True
