"""Route: choose where a call goes. One router per target; the LLM router maps a model alias to its
deployments, ordered by the alias's strategy (brutor.routing.plan); the call stage tries them in order."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from brutor.context import RequestContext
from brutor.errors import GatewayError, internal_error, not_found
from brutor.routing.plan import Route, Target

# Which deployment kind serves which LLM operation.
_KIND_FOR_OPERATION = {"chat.completions": "chat", "embeddings": "embedding"}


class Router(Protocol):
    """Picks the plan for a call: a RoutePlan for LLM calls; an MCP server, skill version or A2A peer
    for the other targets. The target's Caller is the only reader of the plan."""

    def __call__(self, ctx: RequestContext) -> object: ...


@dataclass(slots=True)
class RoutePlan:
    route: Route
    # Deployments to try, in order (the first is the strategy's pick).
    order: list[Target]


class ModelRouter:
    name = "route"

    def __init__(self, routes: Mapping[str, Route], rng: random.Random | None = None) -> None:
        self._routes = dict(routes)
        self._rng = rng or random.Random()  # load spreading, not security

    def __call__(self, ctx: RequestContext) -> RoutePlan:
        call = ctx.call
        if call is None:
            raise internal_error()
        route = self._routes.get(call.resource)
        if route is None:
            raise not_found(
                f"The model '{call.resource}' does not exist or is not served by this gateway.",
                code="model_not_found",
                param="model",
            )
        if _KIND_FOR_OPERATION.get(call.operation) != route.kind:
            raise GatewayError(
                400,
                f"The model '{call.resource}' is a {route.kind} model; not for {call.operation}.",
                code="unsupported_operation",
                param="model",
            )
        return RoutePlan(route, route.order(self._rng))
