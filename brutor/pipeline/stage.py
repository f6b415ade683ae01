"""The stage contract, Envoy-style: a stage continues (returns None), answers (returns a Reply), or
rejects (raises GatewayError). Stages never import each other; ``brutor.pipeline.Pipeline`` orders them."""

from __future__ import annotations

from typing import Protocol

from brutor.context import RequestContext
from brutor.pipeline.reply import Reply


class Stage(Protocol):
    name: str

    async def __call__(self, ctx: RequestContext) -> Reply | None: ...
