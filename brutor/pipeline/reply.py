"""What a stage or a target's call stage answers with: a whole body, or a stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from brutor.errors import GatewayError

Headers = list[tuple[str, str]]

SSE_DONE = b"data: [DONE]\n\n"


def sse_error_frame(error: GatewayError) -> bytes:
    """An OpenAI-style error event; clients (and the openai SDK) treat it as a failed stream."""
    return b"data: " + error.body() + b"\n\n"


class Reply:
    """A complete answer: sent after the return path has recorded the request."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Headers, body: bytes | Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class StreamReply:
    """A streamed answer.

    ``chunks`` yields the bytes to forward as they arrive. When it ends, ``error`` says whether the stream
    completed: the server then runs the return path and only afterwards writes ``done_frame`` (success) or
    the frame from ``error_frame`` (failure), so no client sees the final token before the request is
    recorded, and a broken stream never ends with a clean terminator.

    A producer that knows a chunk is the last one of a completed stream (its usage is already accounted)
    sets ``complete`` before yielding it: the server then records the request and writes that chunk and
    ``done_frame`` in one write, saving a round through the event loop per stream.
    """

    __slots__ = ("aclose", "chunks", "complete", "done_frame", "error", "error_frame", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Headers,
        chunks: AsyncIterator[Any],
        aclose: Callable[[], Awaitable[None]],
        *,
        done_frame: bytes = SSE_DONE,
        error_frame: Callable[[GatewayError], bytes] = sse_error_frame,
    ) -> None:
        self.status = status
        self.headers = headers
        self.chunks = chunks
        self.aclose = aclose
        self.error: GatewayError | None = None
        self.complete = False
        self.done_frame = done_frame
        self.error_frame = error_frame


def json_reply(status: int, obj: Any, headers: Headers | None = None) -> Reply:
    hdrs: Headers = [("content-type", "application/json")]
    if headers:
        hdrs.extend(headers)
    return Reply(status, hdrs, orjson.dumps(obj))


def error_reply(error: GatewayError) -> Reply:
    headers: Headers = [("content-type", "application/json"), *error.headers]
    return Reply(error.status, headers, error.body())
