"""The provider contract: one module per provider implements it; the call stage only sees this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from brutor.context import RequestContext
from brutor.pipeline.reply import Reply, StreamReply


class Provider(Protocol):
    name: str
    # Shown as ``owned_by`` in /v1/models so users can tell where a model is served from.
    owner: str

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply: ...

    async def embeddings(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Deployment:
    """A client-visible model name bound to one provider and the model name that provider expects."""

    name: str
    kind: str
    upstream_model: str
    provider: Provider
    # Which deployment of the alias served a request (audit, metrics, traces): "<provider>/<model>".
    key: str = ""
