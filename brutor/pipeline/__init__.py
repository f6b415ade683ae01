"""The request pipeline. The stage order is written down here and nowhere else.

    identify → decode → authorize → cache → route → call → (stream) ; return path always

Shared stages (identify, authorize, cache, return path) serve every target; route and call are looked up
per target (LLM today; MCP, skills and A2A plug in the same way).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

from brutor.context import Call, RequestContext, Target
from brutor.errors import not_found
from brutor.pipeline.call import Caller
from brutor.pipeline.egress import ReturnPath
from brutor.pipeline.reply import Reply, StreamReply
from brutor.pipeline.route import Router
from brutor.pipeline.stage import Stage

Decode = Callable[[RequestContext], Awaitable[Call]]


class Pipeline:
    def __init__(
        self,
        *,
        identify: Stage,
        authorize: Stage,
        guard: Stage | None = None,
        cache: Stage,
        targets: Mapping[Target, tuple[Router, Caller]],
        egress: ReturnPath,
    ) -> None:
        self._identify = identify
        self._authorize = authorize
        self._guard = guard
        self._cache = cache
        self._targets = dict(targets)
        self.egress = egress

    def swap_access(self, identify: Stage, authorize: Stage) -> None:
        """Install new identify/authorize stages (config reload); requests in flight keep the old ones."""
        self._identify = identify
        self._authorize = authorize

    def swap_route(self, target: Target, router: Router, caller: Caller) -> None:
        """Install a new router for one target (models changed); requests in flight keep the old one."""
        self._targets = {**self._targets, target: (router, caller)}

    def swap_cache(self, cache: Stage) -> None:
        """Install the cache stage (built in the worker, after the pipeline)."""
        self._cache = cache

    def swap_guard(self, guard: Stage | None) -> None:
        """Install a new guardrail stage (config reload), or none."""
        self._guard = guard

    def target(self, target: Target) -> tuple[Router, Caller]:
        """The current router and caller of ``target`` (for the gateway's own calls, e.g. the cache's
        embeddings); raises 404 when the target has none."""
        pair = self._targets.get(target)
        if pair is None:
            raise not_found(f"No route for {target.value} calls on this gateway.")
        return pair

    async def run(self, ctx: RequestContext, decode: Decode) -> Reply | StreamReply:
        clock = time.perf_counter
        stages = ctx.stage_ms
        t = clock()
        # Identify first, from headers alone: an unauthenticated body is never read or parsed.
        early = await self._identify(ctx)
        now = clock()
        stages["identify"] = (now - t) * 1000.0
        if early is not None:
            return early
        # Decode is the target's own: it turns the body into a Call naming the resource policy applies to.
        ctx.call = call = await decode(ctx)
        t = clock()
        stages["decode"] = (t - now) * 1000.0
        # Authorize needs both the principal and the resource.
        early = await self._authorize(ctx)
        now = clock()
        stages["authorize"] = (now - t) * 1000.0
        if early is not None:
            return early
        # Guardrails after authorize (refused callers cost no scan) and before the cache (it only ever
        # keys and stores the redacted prompt; a blocked one never reaches it).
        guard = self._guard
        if guard is not None:
            early = await guard(ctx)
            t, now = now, clock()
            stages["guard"] = (now - t) * 1000.0
            if early is not None:
                return early
        # Cache after authorize, so a hit can never serve a caller who may not use the resource.
        early = await self._cache(ctx)
        t = clock()
        stages["cache"] = (t - now) * 1000.0
        if early is not None:
            return early
        pair = self._targets.get(call.target)
        if pair is None:
            raise not_found(f"No route for {call.target.value} calls on this gateway.")
        router, caller = pair
        plan = router(ctx)
        stages["route"] = (clock() - t) * 1000.0
        return await caller(ctx, plan)
