"""OpenAI and every OpenAI-compatible server (vLLM, Ollama, Mistral's compatible API, LM Studio).

Requests are forwarded as the client sent them — tools, tool_choice, response_format and unknown fields
untouched — with ``model`` rewritten to the deployment's upstream name. Streams are relayed by the native
``ChatStreamRelay``: one Rust call per network chunk, bytes passed through without copies, usage
extracted on the way, ``[DONE]`` withheld until the return path has recorded the request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import orjson
from pydantic import SecretStr
from pyreqwest.client import Client
from pyreqwest.exceptions import RequestError
from pyreqwest.response import Response

from brutor._native import ChatStreamRelay, SseError
from brutor.config import ProviderConfig
from brutor.context import RequestContext
from brutor.credentials import LiveSecret
from brutor.errors import GatewayError, upstream_bad_response, upstream_interrupted
from brutor.http.upstream import build_client, first_byte, map_transport_error
from brutor.pipeline.reply import Headers, Reply, StreamReply
from brutor.providers.accounting import account_stream
from brutor.providers.base import Deployment

_JSON: Headers = [("content-type", "application/json")]
_SSE: Headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
# Upstream response headers worth passing to clients (rate-limit state and retry advice).
_PASS_HEADERS = (
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)
_ERROR_DETAIL_MAX = 200
# Reads allowed after [DONE] to reach the end of the body (see _UpstreamStream._close_upstream).
_DRAIN_READS = 4


class OpenAIProvider:
    owner = "openai-compatible"

    def __init__(self, cfg: ProviderConfig, client: Client | None = None) -> None:
        self.name = cfg.name
        base = (cfg.base_url or "").rstrip("/")
        self._chat_url = f"{base}/chat/completions"
        self._embeddings_url = f"{base}/embeddings"
        self._unary_deadline = timedelta(seconds=min(cfg.timeouts.first_byte, cfg.timeouts.total))
        self._stream_deadline = timedelta(seconds=cfg.timeouts.total)
        # The client's idle timeout covers every read, the wait for headers and the first chunk included,
        # so a separate (asyncio) first-byte timer is armed only when it is the tighter bound.
        timeouts = cfg.timeouts
        self._first_byte = timeouts.first_byte if timeouts.first_byte < timeouts.idle else None
        headers = {"content-type": "application/json", **cfg.headers}
        # A static key goes into the client's default headers once; a rotating one (a LiveSecret from
        # brutor.credentials) is read per request, so a rotated key is used at once.
        self._live_key: SecretStr | None = None
        if isinstance(cfg.api_key, LiveSecret):
            self._live_key = cfg.api_key
        elif cfg.api_key is not None:
            headers["authorization"] = f"Bearer {cfg.api_key.get_secret_value()}"
        self._client = client or build_client(cfg.timeouts, cfg.pool, headers)

    async def aclose(self) -> None:
        await self._client.close()

    def _error_reply(
        self, ctx: RequestContext, deployment: Deployment, response: Response, raw: bytes
    ) -> Reply:
        """An upstream error as the client gets it; providers with their own error shape override it."""
        return _error_passthrough(ctx, deployment, response, raw)

    def _headers(self, builder: Any, ctx: RequestContext) -> Any:
        builder = builder.header("x-request-id", ctx.request_id)
        if self._live_key is not None:
            builder = builder.header("authorization", f"Bearer {self._live_key.get_secret_value()}")
        if ctx.upstream_headers:
            for name, value in ctx.upstream_headers.items():
                builder = builder.header(name, value)
        return _traced(builder, ctx)

    def _request_body(self, deployment: Deployment, payload: dict[str, Any], **overrides: Any) -> bytes:
        """The client's body with ``model`` rewritten (and any overrides): at most one copy."""
        if payload.get("model") != deployment.upstream_model:
            overrides["model"] = deployment.upstream_model
        return orjson.dumps({**payload, **overrides} if overrides else payload)

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        if ctx.call is not None and ctx.call.stream:
            return await self._stream(ctx, deployment, payload)
        return await self._unary(ctx, deployment, self._chat_url, payload)

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        return await self._unary(ctx, deployment, self._embeddings_url, payload)

    async def _unary(
        self, ctx: RequestContext, deployment: Deployment, url: str, payload: dict[str, Any]
    ) -> Reply:
        body = self._request_body(deployment, payload)
        request = (
            self._headers(self._client.post(url), ctx)
            .body_bytes(body)
            # A non-stream answer arrives whole once it is generated, so the first-byte deadline bounds
            # the exchange; kept in the client's Rust timer (an asyncio timeout per request cost ~3 %).
            .timeout(self._unary_deadline)
            .build()
        )
        try:
            response = await request.send()
            # One copy into bytes: granian sends bytes as-is but walks other buffer types item by item.
            raw = (await response.bytes()).to_bytes()
        except (RequestError, TimeoutError) as exc:
            raise map_transport_error(exc, deployment.name) from None
        ctx.mark_first_token()
        if response.status != 200:
            return self._error_reply(ctx, deployment, response, raw)
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise upstream_bad_response(deployment.name, "the response body is not JSON") from None
        if isinstance(doc, dict):
            _account(ctx, doc.get("usage"))
        return Reply(200, list(_JSON), raw)

    async def _stream(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        options = payload.get("stream_options")
        client_wants_usage = isinstance(options, dict) and options.get("include_usage") is True
        overrides: dict[str, Any] = {}
        if not client_wants_usage:
            # Ask for usage anyway so every stream is accounted; the relay drops that chunk for the client.
            overrides["stream_options"] = {**(options or {}), "include_usage": True}
        body = self._request_body(deployment, payload, **overrides)
        request = (
            self._headers(self._client.post(self._chat_url), ctx)
            .body_bytes(body)
            # pyreqwest's default read-ahead (64 KiB) holds a whole short stream back until it ends; with
            # 1 byte each network chunk is handed over as soon as it arrives (measured: 20 s -> 2 ms TTFT
            # on a stream of one chunk per 200 ms).
            .streamed_read_buffer_limit(1)
            .timeout(self._stream_deadline)
        )
        streamed = request.build_streamed()
        entered = False
        try:
            # The deadline covers the first body chunk too, and nothing is committed to the client before
            # it arrives: a slow or failing upstream still gets a clean 5xx (and, later, a fallback).
            async with first_byte(self._first_byte):
                response = await streamed.__aenter__()
                entered = True
                if response.status != 200:
                    raw = (await response.bytes()).to_bytes()
                    await streamed.__aexit__(None, None, None)
                    return self._error_reply(ctx, deployment, response, raw)
                first = await response.body_reader.read_chunk()
        except (RequestError, TimeoutError) as exc:
            if entered:
                await streamed.__aexit__(None, None, None)
            raise map_transport_error(exc, deployment.name) from None
        except BaseException:
            # Cancelled (the client left) or anything else before the first byte: release the upstream.
            if entered:
                await streamed.__aexit__(None, None, None)
            raise
        relay = _UpstreamStream(ctx, deployment, response, streamed, not client_wants_usage)
        return relay.start(first)


class _UpstreamStream:
    """One upstream SSE response being relayed; always closed exactly once, even if never iterated."""

    __slots__ = ("_ctx", "_deployment", "_exited", "_gen", "_reply", "_response", "_streamed", "relay")

    def __init__(
        self,
        ctx: RequestContext,
        deployment: Deployment,
        response: Response,
        streamed: Any,
        strip_usage_chunk: bool,
    ) -> None:
        self._ctx = ctx
        self._deployment = deployment
        self._response = response
        self._streamed = streamed
        self._exited = False
        self.relay = ChatStreamRelay(strip_usage_chunk=strip_usage_chunk)

    def start(self, first: Any) -> StreamReply:
        self._gen = self._chunks(first)
        self._reply = StreamReply(200, list(_SSE), self._gen, self.aclose)
        return self._reply

    async def aclose(self) -> None:
        await self._gen.aclose()
        await self._close_upstream()

    async def _close_upstream(self, drain: bool = False) -> None:
        if self._exited:
            return
        self._exited = True
        if drain:
            # After [DONE] only the end of the body is left: reading it lets the connection go back to
            # the pool instead of being dropped (a new connection per stream otherwise). The client has
            # its last byte already; bounded so a babbling upstream cannot hold us.
            reader = self._response.body_reader
            with contextlib.suppress(RequestError, TimeoutError):
                for _ in range(_DRAIN_READS):
                    if await reader.read_chunk() is None:
                        break
        await self._streamed.__aexit__(None, None, None)

    async def _chunks(self, chunk: Any) -> AsyncGenerator[Any, None]:
        relay, reply, ctx = self.relay, self._reply, self._ctx
        reader = self._response.body_reader
        try:
            while chunk is not None:
                out = relay.feed(chunk)
                if relay.done:
                    if relay.error is None:
                        account_stream(ctx, relay)
                        reply.complete = True
                    ctx.mark_first_token()
                    yield out
                    break
                if out:
                    ctx.mark_first_token()
                    yield out
                chunk = await reader.read_chunk()
            else:
                tail = relay.finish()
                if tail:
                    yield tail
            if not relay.done:
                reply.error = upstream_interrupted(
                    self._deployment.name, "the upstream closed the stream before [DONE]"
                )
        except (RequestError, TimeoutError) as exc:
            error = map_transport_error(exc, self._deployment.name)
            if error.code != "upstream_timeout":
                error = upstream_interrupted(
                    self._deployment.name, "the upstream connection failed mid-stream"
                )
            reply.error = error
        except SseError:
            reply.error = upstream_interrupted(
                self._deployment.name, "the upstream sent an oversized or malformed event"
            )
        finally:
            account_stream(ctx, relay)
            if relay.error is not None:
                if reply.error is None:
                    reply.error = upstream_bad_response(
                        self._deployment.name, "the upstream reported an error mid-stream"
                    )
                # The upstream's own error event was already forwarded; do not add a second one.
                reply.error_frame = _no_frame
            await self._close_upstream(drain=relay.done)


def _no_frame(_error: GatewayError) -> bytes:
    return b""


def _account(ctx: RequestContext, usage: Any) -> None:
    if isinstance(usage, dict):
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int):
            ctx.usage.prompt_tokens = prompt
        if isinstance(completion, int):
            ctx.usage.completion_tokens = completion
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            ctx.usage.cached_tokens = details["cached_tokens"]


def _error_passthrough(ctx: RequestContext, deployment: Deployment, response: Response, raw: bytes) -> Reply:
    """Upstream errors reach the client with their status; non-OpenAI bodies are wrapped so they are."""
    status = response.status
    headers: Headers = list(_JSON)
    for name in _PASS_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            headers.append((name, value))
    code: str | None = None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
        code_value = doc["error"].get("code")
        code = str(code_value) if code_value is not None else f"upstream_{status}"
        body: Any = raw
    elif isinstance(doc, dict) and doc.get("object") == "error" and isinstance(doc.get("message"), str):
        # vLLM's and Mistral's flat shape: {"object": "error", "message", "type", "code"} -> OpenAI's.
        # Numeric codes (Mistral's "1300") mean nothing to OpenAI clients: the status says more.
        code_value = doc.get("code")
        if isinstance(code_value, str) and code_value and not code_value.isdigit():
            code = code_value
        else:
            code = "rate_limit_exceeded" if status == 429 else f"upstream_{status}"
        kind = doc.get("type")
        body = GatewayError(
            status,
            doc["message"][: _ERROR_DETAIL_MAX * 5],
            type=kind if isinstance(kind, str) else "api_error",
            code=code,
        ).body()
    else:
        code = f"upstream_{status}"
        text = raw[:_ERROR_DETAIL_MAX].decode("utf-8", "replace")
        body = GatewayError(
            status,
            f"Upstream for deployment '{deployment.name}' answered {status}: {text}",
            type="api_error",
            code=code,
        ).body()
        if status < 400:
            # A redirect or other non-200 success is not something a client of an LLM API can use.
            status = 502
    ctx.error_code = code
    return Reply(status, headers, body)


def _traced(builder: Any, ctx: RequestContext) -> Any:
    """W3C trace context for the upstream: its spans become children of this request's call span."""
    trace = ctx.trace
    if trace is None:
        return builder
    # As Tracing.upstream_traceparent, without importing the tracing stack on the request path.
    return builder.header("traceparent", f"00-{trace.trace_id:032x}-{trace.call_span_id:016x}-01")
