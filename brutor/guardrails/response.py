"""The response policy on model output: whole answers, and live streams redacted chunk by chunk.

A stream goes through a native ``ChatChunkRedactor``, one call per network chunk: each choice's
``delta.content`` goes through its own stream redactor, which emits at once everything that cannot be
part of an entity and holds back only the shortest tail that still could; the tail is flushed with the
choice's ``finish_reason`` event (or, for a choice that never sends one, in an extra event before the
trailing usage chunk when the stream completes). Events are rewritten in place (the content string
spliced), never parsed in Python. A ``block`` entity in a stream ends it with a
``content_policy_violation`` error event (never a clean ``[DONE]``), since the answer's beginning is
already with the client. Tool-call argument deltas are not redacted in streams (whole answers: they are).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from brutor._native import ChatChunkRedactor, PiiScanner, SseError
from brutor.context import RequestContext
from brutor.errors import upstream_interrupted
from brutor.guardrails.decisions import add_counts, blocked, set_counts
from brutor.guardrails.texts import answer_slots
from brutor.pipeline.reply import Reply, StreamReply


class OutputGuard:
    __slots__ = ("_actions", "_scanner")

    def __init__(self, scanner: PiiScanner, actions: dict[str, str]) -> None:
        self._scanner = scanner
        self._actions = actions

    def apply(self, ctx: RequestContext, reply: Reply | StreamReply) -> Reply | StreamReply:
        if reply.status != 200:
            return reply
        if isinstance(reply, StreamReply):
            reply.chunks = _StreamFilter(self._scanner, self._actions, ctx, reply).run()
            return reply
        return self._whole(ctx, reply)

    def _whole(self, ctx: RequestContext, reply: Reply) -> Reply:
        try:
            doc = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            return reply
        counts: dict[str, int] = {}
        stopped: set[str] = set()
        changed = False
        for holder, key in answer_slots(doc):
            result = self._scanner.redact(holder[key], self._actions)
            if result.counts:
                for kind, n in result.counts.items():
                    counts[kind] = counts.get(kind, 0) + n
                if result.text != holder[key]:
                    holder[key] = result.text
                    changed = True
            stopped.update(result.blocked)
        if counts:
            add_counts(_entries(ctx), "response", counts, self._actions)
        if stopped:
            raise blocked(stopped, stage="response")
        if changed:
            reply.body = orjson.dumps(doc)
        return reply


def _entries(ctx: RequestContext) -> list[dict[str, Any]]:
    if ctx.guardrails is None:
        ctx.guardrails = []
    return ctx.guardrails


class _StreamFilter:
    """Runs a stream through one native ``ChatChunkRedactor``: one call per chunk, no per-event Python."""

    __slots__ = ("_actions", "_ctx", "_inner", "_redactor", "_reply")

    def __init__(
        self, scanner: PiiScanner, actions: dict[str, str], ctx: RequestContext, reply: StreamReply
    ) -> None:
        self._actions = actions
        self._ctx = ctx
        self._reply = reply
        self._inner: AsyncIterator[Any] = reply.chunks
        self._redactor = ChatChunkRedactor(scanner, actions)

    async def run(self) -> AsyncIterator[bytes]:
        reply, redactor = self._reply, self._redactor
        seen = 0
        async for chunk in self._inner:
            # ``complete`` is set by the producer before it yields the last chunk of a completed
            # stream: the tails still held are flushed into it (after its last event with choices).
            last = reply.complete
            try:
                out = redactor.feed(chunk, last)
            except SseError:
                reply.complete = False
                reply.error = upstream_interrupted(
                    self._ctx.deployment or "?", "the upstream sent an oversized or malformed event"
                )
                return
            # A blocked entity is counted too: nothing to check while the count stays the same.
            if redactor.entities != seen:
                seen = redactor.entities
                set_counts(_entries(self._ctx), "response", redactor.counts, self._actions)
                if redactor.is_blocked:
                    # The events before the one with the blocked entity are safe to forward; the
                    # stream then ends with an error, never a clean [DONE].
                    reply.complete = False
                    reply.error = blocked(redactor.blocked, stage="response")
                    if out:
                        yield out
                    return
            if out or last:
                yield out
