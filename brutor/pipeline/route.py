"""Route: choose where a call goes. One router per target; the LLM router maps model names to
deployments. (Weighted/least-busy selection and fallbacks arrive with the providers issue.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from brutor.context import RequestContext
from brutor.errors import GatewayError, internal_error, not_found
from brutor.providers.base import Deployment

# Which deployment kind serves which LLM operation.
_KIND_FOR_OPERATION = {"chat.completions": "chat", "embeddings": "embedding"}


class Router(Protocol):
    """Picks the plan for a call: a Deployment for LLM calls; an MCP server, skill version or A2A peer
    for the other targets. The target's Caller is the only reader of the plan."""

    def __call__(self, ctx: RequestContext) -> object: ...


class ModelRouter:
    name = "route"

    def __init__(self, deployments: Mapping[str, Deployment]) -> None:
        self._deployments = dict(deployments)

    def __call__(self, ctx: RequestContext) -> Deployment:
        call = ctx.call
        if call is None:
            raise internal_error()
        deployment = self._deployments.get(call.resource)
        if deployment is None:
            raise not_found(
                f"The model '{call.resource}' does not exist or is not served by this gateway.",
                code="model_not_found",
                param="model",
            )
        if _KIND_FOR_OPERATION.get(call.operation) != deployment.kind:
            raise GatewayError(
                400,
                f"The model '{call.resource}' is a {deployment.kind} model; not for {call.operation}.",
                code="unsupported_operation",
                param="model",
            )
        ctx.deployment = deployment.name
        return deployment
