"""A cached ``chat.completion`` re-streamed as ``chat.completion.chunk`` events, for a streamed request
that hits: the client gets the same SSE shape a live answer has (the server adds ``[DONE]``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from brutor.cache.entries import Entry
from brutor.pipeline.reply import StreamReply

__all__ = ["replay"]

_SSE = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
_PIECE = 24  # characters per replayed chunk


def replay(entry: Entry, with_usage: bool) -> StreamReply:
    """The cached chat.completion as chat.completion.chunk events (the server adds ``[DONE]``)."""
    doc = orjson.loads(entry.body)
    base = {
        "id": doc.get("id"),
        "object": "chat.completion.chunk",
        "created": doc.get("created"),
        "model": doc.get("model"),
    }
    events: list[bytes] = []
    for choice in doc.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        text = message.get("content") or ""
        pieces = [text[i : i + _PIECE] for i in range(0, len(text), _PIECE)] or [""]
        for n, piece in enumerate(pieces):
            delta: dict[str, Any] = {"content": piece}
            if n == 0:
                delta["role"] = "assistant"
            events.append(
                _event({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
            )
        finish = {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason") or "stop"}
        events.append(_event({**base, "choices": [finish]}))
    if with_usage and doc.get("usage") is not None:
        events.append(_event({**base, "choices": [], "usage": doc["usage"]}))
    reply: StreamReply

    async def chunks() -> AsyncIterator[bytes]:
        reply.complete = True
        yield b"".join(events)

    async def aclose() -> None:
        return None

    reply = StreamReply(200, list(_SSE), chunks(), aclose)
    return reply


def _event(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
