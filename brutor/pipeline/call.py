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
        reply: Reply | StreamReply
        if call.operation == "chat.completions":
            reply = await provider.chat(ctx, deployment, call.payload)
        elif call.operation == "embeddings":
            reply = await provider.embeddings(ctx, deployment, call.payload)
        else:
            raise internal_error()
        guard = ctx.output_guard
        # The tenant's response policy (armed by the guard stage) sees the answer before the client does.
        return reply if guard is None else guard.apply(ctx, reply)
