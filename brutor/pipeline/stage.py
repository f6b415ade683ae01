"""The stage contract, Envoy-style: a stage continues (returns None), answers (returns a Reply, or a
StreamReply such as a cached answer re-streamed), or rejects (raises GatewayError). Stages never import each other; ``brutor.pipeline.Pipeline`` orders them."""

from __future__ import annotations

from typing import Protocol

from brutor.context import RequestContext
from brutor.pipeline.reply import Reply, StreamReply


class Stage(Protocol):
    name: str

    async def __call__(self, ctx: RequestContext) -> Reply | StreamReply | None: ...
