"""Reading request bodies and writing replies over granian's RSGI protocol."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from brutor.context import RequestContext
from brutor.errors import GatewayError, bad_request
from brutor.pipeline.egress import ReturnPath
from brutor.pipeline.reply import Headers, Reply, StreamReply

log = logging.getLogger("brutor.server")


def too_large(limit: int) -> GatewayError:
    return GatewayError(
        413, f"The request body exceeds the limit of {limit} bytes.", code="request_too_large"
    )


async def read_body(proto: Any, headers: Any, limit: int) -> bytes:
    """The whole body, refusing anything over ``limit`` before (declared) or while (chunked) reading it."""
    declared = headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise bad_request("Invalid Content-Length header.", code="invalid_request") from None
        if size > limit:
            raise too_large(limit)
        body: bytes = await proto()
        return body
    parts: list[bytes] = []
    total = 0
    async for part in proto:
        total += len(part)
        if total > limit:
            raise too_large(limit)
        parts.append(part)
    return b"".join(parts)


def send_reply(proto: Any, ctx: RequestContext, reply: Reply, egress: ReturnPath) -> None:
    ctx.status = reply.status
    # The return path runs before the client sees any byte of the answer.
    egress.record(ctx)
    headers = reply.headers
    headers.append(("x-request-id", ctx.request_id))
    proto.response_bytes(reply.status, headers, reply.body)


async def send_stream(proto: Any, ctx: RequestContext, reply: StreamReply, egress: ReturnPath) -> None:
    """Forward each chunk as it arrives; cancel the upstream as soon as the client goes away."""
    ctx.status = reply.status
    headers: Headers = reply.headers
    headers.append(("x-request-id", ctx.request_id))
    transport = proto.response_stream(reply.status, headers)
    task = asyncio.current_task()
    gone = asyncio.Event()
    watcher = asyncio.ensure_future(_watch_disconnect(proto, task, gone))
    disconnected = False
    try:
        async for chunk in reply.chunks:
            await transport.send_bytes(chunk)
    except asyncio.CancelledError:
        if not gone.is_set():
            raise
        if task is not None:
            task.uncancel()
        disconnected = True
    except RuntimeError:
        # granian raises ProtocolClosed/ProtocolError (RuntimeErrors) when the client is gone.
        disconnected = True
    finally:
        watcher.cancel()
        # Closes the upstream response at once when the loop stopped early (disconnect or failure).
        await reply.aclose()
    if disconnected:
        ctx.error_code = "client_disconnected"
        egress.record(ctx)
        return
    error = reply.error
    if error is not None:
        ctx.error_code = error.code
    # Recorded before the terminal frame: no client sees the end of a stream that was not recorded.
    egress.record(ctx)
    frame = reply.done_frame if error is None else reply.error_frame(error)
    if frame:
        # The client may leave between the last chunk and the terminator; nothing is left to tell it.
        with contextlib.suppress(RuntimeError):
            await transport.send_bytes(frame)


async def _watch_disconnect(proto: Any, task: asyncio.Task[Any] | None, gone: asyncio.Event) -> None:
    await proto.client_disconnect()
    gone.set()
    if task is not None:
        task.cancel()
