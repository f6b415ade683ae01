"""The response policy on model output: whole answers, and live streams redacted chunk by chunk.

A stream is re-framed event by event: each choice's ``delta.content`` goes through its own native
``StreamRedactor``, which emits at once everything that cannot be part of an entity and holds back only
the shortest tail that still could; the tail is flushed with the choice's ``finish_reason`` event. A
``block`` entity in a stream ends it with a ``content_policy_violation`` error event (never a clean
``[DONE]``), since the answer's beginning is already with the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from brutor._native import PiiScanner, StreamRedactor
from brutor.context import RequestContext
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
    def __init__(
        self, scanner: PiiScanner, actions: dict[str, str], ctx: RequestContext, reply: StreamReply
    ) -> None:
        self._scanner = scanner
        self._actions = actions
        self._ctx = ctx
        self._reply = reply
        self._inner: AsyncIterator[Any] = reply.chunks
        self._redactors: dict[int, StreamRedactor] = {}
        self._last: dict[str, Any] | None = None

    def _redactor(self, index: int) -> StreamRedactor:
        r = self._redactors.get(index)
        if r is None:
            r = self._redactors[index] = self._scanner.stream(self._actions)
        return r

    async def run(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            events = self._chunk(bytes(chunk))
            self._report()
            stopped = {k for r in self._redactors.values() for k in r.blocked}
            if stopped:
                reply = self._reply
                reply.complete = False
                reply.error = blocked(stopped, stage="response")
                return
            if self._reply.complete:
                rest = self._flush_rest()
                if rest:
                    # After the last event with choices, before a trailing usage-only event.
                    last = max((i for i, (_, has) in enumerate(events) if has), default=len(events) - 1)
                    events.insert(last + 1, (rest, True))
            out = b"".join(e for e, _ in events)
            if out:
                yield out

    def _chunk(self, chunk: bytes) -> list[tuple[bytes, bool]]:
        """The chunk's events, redacted, each with whether it carried choices."""
        out: list[tuple[bytes, bool]] = []
        for event in chunk.split(b"\n\n"):
            if not event:
                continue
            if not event.startswith(b"data: ") or event == b"data: [DONE]":
                out.append((event + b"\n\n", False))
                continue
            try:
                doc = orjson.loads(event[6:])
            except orjson.JSONDecodeError:
                out.append((event + b"\n\n", False))
                continue
            has = bool(doc.get("choices")) if isinstance(doc, dict) else False
            if self._event(doc):
                out.append((b"data: " + orjson.dumps(doc) + b"\n\n", has))
            else:
                out.append((event + b"\n\n", has))
        return out

    def _event(self, doc: Any) -> bool:
        """Redact one chunk object in place; True when it changed."""
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(choices, list):
            return False
        self._last = doc
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            index = choice.get("index", 0)
            text = delta.get("content") if isinstance(delta, dict) else None
            finishing = choice.get("finish_reason") is not None
            if not isinstance(text, str) and not finishing:
                continue
            redactor = self._redactor(index if isinstance(index, int) else 0)
            emitted = redactor.push(text) if isinstance(text, str) else ""
            if finishing:
                emitted += redactor.finish()
            if emitted != (text or "") and isinstance(delta, dict):
                delta["content"] = emitted
                changed = True
            elif emitted and not isinstance(delta, dict):
                choice["delta"] = {"content": emitted}
                changed = True
        return changed

    def _flush_rest(self) -> bytes:
        """Tails of choices that ended without a finish_reason event (the stream is complete)."""
        rest = [(i, r.finish()) for i, r in self._redactors.items() if r.held]
        rest = [(i, t) for i, t in rest if t]
        if not rest or self._last is None:
            return b""
        base = {k: v for k, v in self._last.items() if k in ("id", "object", "created", "model")}
        doc = {
            **base,
            "choices": [{"index": i, "delta": {"content": t}, "finish_reason": None} for i, t in rest],
        }
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    def _report(self) -> None:
        counts: dict[str, int] = {}
        for r in self._redactors.values():
            for kind, n in r.counts.items():
                counts[kind] = counts.get(kind, 0) + n
        if counts:
            set_counts(_entries(self._ctx), "response", counts, self._actions)
