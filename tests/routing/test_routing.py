"""Routing: health and breakers, selection strategies, retries/fallback before the first byte only,
Retry-After, transforms — the call stage driven with scripted providers (no network)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from brutor.context import Call, Principal, RequestContext, Target
from brutor.errors import GatewayError, upstream_unreachable
from brutor.pipeline.call import LlmCaller
from brutor.pipeline.reply import Reply, StreamReply
from brutor.pipeline.route import ModelRouter
from brutor.providers.base import Deployment
from brutor.routing.config import BreakerConfig, RoutingConfig, Transforms
from brutor.routing.health import CLOSED, HALF_OPEN, OPEN, Health
from brutor.routing.plan import Route
from brutor.routing.plan import Target as RouteTarget
from brutor.routing.transforms import apply


class Scripted:
    """A provider whose answers are scripted: an int status, a GatewayError, or "stream"."""

    owner = "test"

    def __init__(self, name: str, script: list[Any]) -> None:
        self.name = name
        self.script = list(script)
        self.seen: list[dict[str, Any]] = []

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        self.seen.append(payload)
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, GatewayError):
            raise step
        if step == "stream":
            return _stream()
        headers = [("retry-after", "0.05")] if step == 429 else []
        return Reply(step, headers, b"{}")

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        return Reply(200, [], b"{}")

    async def aclose(self) -> None:
        return None


def _stream() -> StreamReply:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: {}\n\n"
        raise RuntimeError("upstream died after the first byte")

    async def aclose() -> None:
        return None

    return StreamReply(200, [], chunks(), aclose)


def route(
    *providers: Scripted, strategy: str = "weighted", weights: list[float] | None = None, **policy: Any
) -> Route:
    cfg = RoutingConfig.model_validate({"strategy": strategy, "backoff_ms": 1, "max_backoff_ms": 2, **policy})
    targets = [
        RouteTarget(
            Deployment("alias", "chat", "up", p, key=p.name),
            Health(cfg.breaker),
            (weights or [1.0] * len(providers))[i],
            Transforms(),
        )
        for i, p in enumerate(providers)
    ]
    return Route("alias", "chat", targets, cfg, Transforms())


def run(
    r: Route, rng: random.Random | None = None, payload: dict[str, Any] | None = None
) -> tuple[Reply | StreamReply, RequestContext]:
    ctx = RequestContext("r", {})
    ctx.principal = Principal("k", "t")
    ctx.call = Call(
        Target.LLM, "chat.completions", "alias", payload=payload or {"model": "alias", "messages": []}
    )
    plan = ModelRouter({"alias": r}, rng or random.Random(1))(ctx)
    return asyncio.run(LlmCaller(random.Random(2))(ctx, plan)), ctx


def test_breaker_opens_half_opens_and_closes() -> None:
    h = Health(BreakerConfig(failures=2, open_seconds=10, max_open_seconds=30))
    h.failure(now=0)
    assert h.state(0) == CLOSED
    h.failure(now=0)
    assert h.state(1) == OPEN and not h.admits(1)
    assert h.state(11) == HALF_OPEN
    assert h.admits(11) and not h.admits(11)  # one probe only
    h.failure(now=11)
    assert h.state(20) == OPEN and h.state(32) == HALF_OPEN  # twice as long (20 s) the second time
    assert h.admits(32)
    h.success(5.0)
    assert h.state(32) == CLOSED and h.ewma_ms == 5.0


def test_fallback_to_the_next_deployment_on_5xx_and_connect_errors() -> None:
    a, b = Scripted("a", [503]), Scripted("b", [200])
    reply, ctx = run(route(a, b, weights=[1000, 1]))
    assert reply.status == 200 and ctx.deployment == "b" and len(a.seen) == len(b.seen) == 1
    a, b = Scripted("a", [upstream_unreachable("a")]), Scripted("b", [200])
    reply, ctx = run(route(a, b, weights=[1000, 1]))
    assert reply.status == 200 and ctx.deployment == "b"


def test_a_failed_attempt_leaves_no_error_on_a_later_success() -> None:
    class Failing(Scripted):
        async def chat(
            self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
        ) -> Reply | StreamReply:
            ctx.error_code = "upstream_503"  # as the providers' error mapping does
            return Reply(503, [], b"{}")

    reply, ctx = run(route(Failing("a", []), Scripted("b", [200]), weights=[1000, 1]))
    assert reply.status == 200 and ctx.error_code is None


def test_client_errors_are_not_retried() -> None:
    a, b = Scripted("a", [400]), Scripted("b", [200])
    reply, _ = run(route(a, b, weights=[1000, 1]))
    assert reply.status == 400 and not b.seen


def test_all_attempts_failing_returns_the_last_failure() -> None:
    a, b = Scripted("a", [500, 500]), Scripted("b", [502, 502])
    reply, _ = run(route(a, b, max_attempts=4))
    assert reply.status in (500, 502) and len(a.seen) + len(b.seen) == 4


def test_retry_after_is_honoured_when_short_and_ends_the_tries_when_long() -> None:
    single = Scripted("a", [429, 200])
    reply, _ = run(route(single, max_attempts=2, max_retry_after_ms=1000))
    assert reply.status == 200 and len(single.seen) == 2
    single = Scripted("a", [429, 200])
    reply, _ = run(route(single, max_attempts=2, max_retry_after_ms=10))
    assert reply.status == 429 and len(single.seen) == 1


def test_no_fallback_after_the_first_byte() -> None:
    a, b = Scripted("a", ["stream"]), Scripted("b", [200])
    reply, _ = run(route(a, b, weights=[1000, 1]))
    assert isinstance(reply, StreamReply) and not b.seen


def test_ejected_deployments_go_last_and_recover() -> None:
    a, b = Scripted("a", [500] * 2), Scripted("b", [])
    r = route(a, b, weights=[1000, 1], breaker={"failures": 2, "open_seconds": 0.05})
    for _ in range(2):
        run(r)
    assert r.targets[0].health.state() == OPEN
    seen = len(a.seen)
    for _ in range(5):
        _, ctx = run(r)
        assert ctx.deployment == "b"
    assert len(a.seen) == seen
    asyncio.run(asyncio.sleep(0.06))
    _, ctx = run(r)  # half-open: a is probed (its script is empty now: 200) and closes
    assert ctx.deployment == "a" and r.targets[0].health.state() == CLOSED


def test_weighted_split_follows_weights() -> None:
    a, b = Scripted("a", []), Scripted("b", [])
    r = route(a, b, weights=[3, 1])
    rng = random.Random(7)
    picks = Counter(run(r, rng)[1].deployment for _ in range(2000))
    assert 0.70 < picks["a"] / 2000 < 0.80


def test_least_busy_and_latency() -> None:
    a, b = Scripted("a", []), Scripted("b", [])
    r = route(a, b, strategy="least_busy")
    r.targets[0].health.inflight = 3
    assert run(r)[1].deployment == "b"
    r = route(a, b, strategy="latency")
    r.targets[0].health.success(50.0)
    assert run(r)[1].deployment == "b"  # unknown latency is measured first
    r.targets[1].health.ewma_ms = 80.0  # b measured slower than a
    assert run(r)[1].deployment == "a"


def test_transforms() -> None:
    t = Transforms(
        defaults={"temperature": 0.2, "top_p": 1},
        overrides={"user": "gw"},
        drop=["logprobs"],
        system_prefix="Be brief.",
    )
    body = {
        "model": "m",
        "temperature": 0.9,
        "logprobs": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    out = apply(body, t)
    assert out == {
        "model": "m",
        "temperature": 0.9,
        "top_p": 1,
        "user": "gw",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
    }
    assert body["logprobs"] is True and len(body["messages"]) == 1  # the client's body is untouched
    with_system = apply({"messages": [{"role": "system", "content": "You are X."}]}, t)
    assert with_system["messages"][0]["content"] == "Be brief.\n\nYou are X."


def test_deployment_transforms_apply_per_attempt() -> None:
    a, b = Scripted("a", [503]), Scripted("b", [200])
    r = route(a, b, weights=[1000, 1])
    r.targets[0].transforms = Transforms(drop=["seed"])
    run(r, payload={"model": "alias", "seed": 1, "messages": []})
    assert "seed" not in a.seen[0] and b.seen[0]["seed"] == 1


def test_unknown_alias_and_wrong_kind() -> None:
    ctx = RequestContext("r", {})
    ctx.call = Call(Target.LLM, "embeddings", "alias")
    with pytest.raises(GatewayError) as info:
        ModelRouter({"alias": route(Scripted("a", []))})(ctx)
    assert info.value.code == "unsupported_operation"
    ctx.call = Call(Target.LLM, "chat.completions", "nope")
    with pytest.raises(GatewayError) as info:
        ModelRouter({})(ctx)
    assert info.value.status == 404
