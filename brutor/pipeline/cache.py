"""Cache: a hit answers early (still audited by the return path).

Present but off until the semantic-cache issue: it marks the request so the audit record says so.
"""

from __future__ import annotations

from brutor.context import RequestContext
from brutor.pipeline.reply import Reply


class DisabledCache:
    name = "cache"

    async def __call__(self, ctx: RequestContext) -> Reply | None:
        ctx.cache_status = "off"
        return None
