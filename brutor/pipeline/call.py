"""Call: execute the routed request against its provider and hand back a Reply or a StreamReply."""

from __future__ import annotations

from typing import Protocol

from brutor.context import RequestContext
from brutor.errors import internal_error
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers.base import Deployment


class Caller(Protocol):
    async def __call__(self, ctx: RequestContext, plan: object) -> Reply | StreamReply: ...


class LlmCaller:
    name = "call"

    async def __call__(self, ctx: RequestContext, plan: object) -> Reply | StreamReply:
        call = ctx.call
        if call is None or not isinstance(plan, Deployment):
            raise internal_error()
        deployment = plan
        provider = deployment.provider
        if call.operation == "chat.completions":
            return await provider.chat(ctx, deployment, call.payload)
        if call.operation == "embeddings":
            return await provider.embeddings(ctx, deployment, call.payload)
        raise internal_error()
