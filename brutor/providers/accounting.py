"""Usage accounting of a relayed or translated stream, shared by every streaming provider."""

from __future__ import annotations

from typing import Protocol

from brutor.context import RequestContext


class StreamCounts(Protocol):
    """What the native relay and translators report (``ChatStreamRelay``, ``*StreamTranslator``)."""

    @property
    def prompt_tokens(self) -> int | None: ...
    @property
    def cached_tokens(self) -> int | None: ...
    @property
    def completion_tokens(self) -> int | None: ...
    @property
    def content_chars(self) -> int: ...


def account_stream(ctx: RequestContext, counts: StreamCounts) -> None:
    """The upstream's own counts when it sent them. Otherwise (self-hosted servers without usage, or a
    stream cut short) completion tokens are estimated at ~4 characters per token and the prompt taken
    from the gateway's own estimate, so token limits and cost never count zero for work done."""
    usage = ctx.usage
    if counts.prompt_tokens is not None:
        usage.prompt_tokens = counts.prompt_tokens
    if counts.cached_tokens is not None:
        usage.cached_tokens = counts.cached_tokens
    if counts.completion_tokens is not None:
        usage.completion_tokens = counts.completion_tokens
    elif counts.content_chars:
        usage.completion_tokens = (counts.content_chars + 3) // 4
        usage.estimated = True
        if counts.prompt_tokens is None and ctx.call is not None:
            usage.prompt_tokens = ctx.call.prompt_estimate
