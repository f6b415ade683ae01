"""Google Vertex AI (Gemini): OpenAI chat in, ``generateContent`` / ``streamGenerateContent`` out.

Translation lives in ``vertex_request`` / ``vertex_response``; tokens in ``vertex_auth``. This module does
the HTTP: one pooled pyreqwest client, the OAuth token per request (cached, refreshed off the loop),
upstream errors rewritten into OpenAI's error shape with their status kept, and streams relayed with one
decode + translate pass per network chunk. Nothing reaches the client before the upstream's first event
is in hand, so a blocked prompt or a failing upstream still gets a clean error (and a retry elsewhere).
"""

from __future__ import annotations

import base64
import contextlib
import struct
from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any

import orjson
from pyreqwest.client import Client
from pyreqwest.exceptions import RequestError
from pyreqwest.response import Response

from brutor._native import SseDecoder, SseError
from brutor.config import ProviderConfig
from brutor.context import RequestContext
from brutor.errors import GatewayError, bad_request, upstream_bad_response, upstream_interrupted
from brutor.http.upstream import build_client, first_byte, map_transport_error
from brutor.pipeline.reply import Headers, Reply, StreamReply
from brutor.providers.base import Deployment
from brutor.providers.openai import _PASS_HEADERS, _traced
from brutor.providers.vertex_auth import AccessTokens, TokenError
from brutor.providers.vertex_request import build_request
from brutor.providers.vertex_response import StreamTranslator, chat_completion, openai_usage, prompt_block

_JSON: Headers = [("content-type", "application/json")]
_SSE: Headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
_DRAIN_READS = 4
_ERROR_DETAIL_MAX = 200
_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class VertexProvider:
    owner = "google-vertex"

    def __init__(
        self, cfg: ProviderConfig, client: Client | None = None, tokens: AccessTokens | None = None
    ) -> None:
        self.name = cfg.name
        location = cfg.region or "global"
        base = cfg.effective_base_url or ""
        if not cfg.base_url and location == "global":
            base = "https://aiplatform.googleapis.com"  # the global endpoint has no region prefix
        self._root = f"{base}/v1/"
        self._models = f"{base}/v1/projects/{cfg.project}/locations/{location}/publishers/google/models/"
        timeouts = cfg.timeouts
        self._unary_deadline = timedelta(seconds=min(timeouts.first_byte, timeouts.total))
        self._stream_deadline = timedelta(seconds=timeouts.total)
        self._first_byte = timeouts.first_byte if timeouts.first_byte < timeouts.idle else None
        # The token endpoint answers in well under a second; a hung one must not hold requests long.
        self._tokens = tokens or AccessTokens(
            cfg.credentials_file, timeout=min(timeouts.connect + timeouts.first_byte, 30.0)
        )
        self._client = client or build_client(
            timeouts, cfg.pool, {"content-type": "application/json", **cfg.headers}
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _url(self, deployment: Deployment, method: str) -> str:
        model = deployment.upstream_model
        # A full resource name (a tuned model's endpoint) is used as given.
        prefix = self._root if model.startswith("projects/") else self._models
        return f"{prefix}{model}:{method}"

    async def _request(self, ctx: RequestContext, deployment: Deployment, url: str) -> Any:
        try:
            token = await self._tokens.get()
        except TokenError as exc:
            raise GatewayError(
                502,
                f"Upstream for deployment '{deployment.name}' failed: {exc}",
                type="api_error",
                code="upstream_auth_error",
            ) from None
        builder = self._client.post(url).header("authorization", f"Bearer {token}")
        builder = builder.header("x-request-id", ctx.request_id)
        if ctx.upstream_headers:  # the route's transforms
            for name, value in ctx.upstream_headers.items():
                builder = builder.header(name, value)
        return _traced(builder, ctx)

    # ------------------------------------------------------------------------------------- whole

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        body = orjson.dumps(build_request(payload))
        if ctx.call is not None and ctx.call.stream:
            return await self._stream(ctx, deployment, payload, body)
        doc = await self._unary(ctx, deployment, self._url(deployment, "generateContent"), body)
        if isinstance(doc, Reply):
            return doc
        blocked = prompt_block(doc)
        _account(ctx, openai_usage(doc.get("usageMetadata")))
        if blocked is not None:
            raise blocked
        return Reply(200, list(_JSON), orjson.dumps(chat_completion(doc, deployment.upstream_model)))

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        texts = payload.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise bad_request("Vertex AI embeddings take text input only.", param="input")
        request: dict[str, Any] = {"instances": [{"content": t} for t in texts]}
        if isinstance(payload.get("dimensions"), int):
            request["parameters"] = {"outputDimensionality": payload["dimensions"]}
        url = self._url(deployment, "predict")
        doc = await self._unary(ctx, deployment, url, orjson.dumps(request))
        if isinstance(doc, Reply):
            return doc
        b64 = payload.get("encoding_format") == "base64"
        data, tokens = [], 0
        for i, prediction in enumerate(doc.get("predictions") or ()):
            embedding = prediction.get("embeddings") or {}
            values = embedding.get("values") or []
            tokens += int((embedding.get("statistics") or {}).get("token_count", 0))
            vector: Any = (
                base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode() if b64 else values
            )
            data.append({"object": "embedding", "index": i, "embedding": vector})
        ctx.usage.prompt_tokens = tokens
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        answer = {"object": "list", "data": data, "model": deployment.upstream_model, "usage": usage}
        return Reply(200, list(_JSON), orjson.dumps(answer))

    async def _unary(self, ctx: RequestContext, deployment: Deployment, url: str, body: bytes) -> Any:
        """The upstream's JSON document, or the error Reply to send instead."""
        builder = await self._request(ctx, deployment, url)
        request = builder.body_bytes(body).timeout(self._unary_deadline).build()
        try:
            response = await request.send()
            raw = (await response.bytes()).to_bytes()
        except (RequestError, TimeoutError) as exc:
            raise map_transport_error(exc, deployment.name) from None
        ctx.mark_first_token()
        if response.status != 200:
            return self._error_reply(ctx, deployment, response, raw)
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            raise upstream_bad_response(deployment.name, "the response body is not a JSON object")
        return doc

    # ------------------------------------------------------------------------------------ stream

    async def _stream(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any], body: bytes
    ) -> Reply | StreamReply:
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        builder = await self._request(ctx, deployment, self._url(deployment, "streamGenerateContent?alt=sse"))
        # Read-ahead of 1 byte: each network chunk is handed over as it arrives (see openai.py).
        streamed = builder.body_bytes(body).streamed_read_buffer_limit(1).timeout(self._stream_deadline)
        streamed = streamed.build_streamed()
        stream = _VertexStream(
            ctx, deployment, streamed, StreamTranslator(deployment.upstream_model, include_usage)
        )
        try:
            async with first_byte(self._first_byte):
                response = await streamed.__aenter__()
                stream.entered(response)
                if response.status != 200:
                    raw = (await response.bytes()).to_bytes()
                    await stream.close_upstream()
                    return self._error_reply(ctx, deployment, response, raw)
                first = await stream.first_events()
        except (RequestError, TimeoutError) as exc:
            await stream.close_upstream()
            raise map_transport_error(exc, deployment.name) from None
        except SseError:
            await stream.close_upstream()
            raise upstream_bad_response(deployment.name, "the upstream sent a malformed event") from None
        except BaseException:  # cancelled (the client left): do not leave the upstream response open
            await stream.close_upstream()
            raise
        translator = stream.translator
        refused = translator.blocked or translator.error
        if refused is None and translator.events == 0:
            refused = upstream_bad_response(deployment.name, "the upstream ended the stream without an event")
        if refused is not None:
            # Nothing was sent yet: the client gets a plain error instead of a broken stream.
            await stream.close_upstream()
            _account(ctx, translator.usage)
            raise refused
        return stream.start(first)

    def _error_reply(
        self, ctx: RequestContext, deployment: Deployment, response: Response, raw: bytes
    ) -> Reply:
        """Google's ``{"error": {"code", "message", "status"}}`` rewritten into OpenAI's shape, status kept."""
        status = response.status
        if status == 401:
            self._tokens.invalidate()  # a revoked or expired token: the next request fetches a new one
        headers: Headers = list(_JSON)
        for name in _PASS_HEADERS:
            value = response.headers.get(name)
            if value is not None:
                headers.append((name, value))
        with contextlib.suppress(orjson.JSONDecodeError):
            doc = orjson.loads(raw)
            doc = doc[0] if isinstance(doc, list) and doc else doc  # the non-SSE stream wraps it in a list
            error = doc.get("error") if isinstance(doc, dict) else None
            if isinstance(error, dict) and isinstance(error.get("message"), str) and status >= 400:
                google_status = error.get("status")
                if status == 429:
                    code = "rate_limit_exceeded"
                elif isinstance(google_status, str) and google_status:
                    code = google_status.lower()
                else:
                    code = f"upstream_{status}"
                kind = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
                ctx.error_code = code
                return Reply(
                    status, headers, GatewayError(status, error["message"], type=kind, code=code).body()
                )
        text = raw[:_ERROR_DETAIL_MAX].decode("utf-8", "replace")
        code = f"upstream_{status}"
        wrapped = GatewayError(
            status,
            f"Upstream for deployment '{deployment.name}' answered {status}: {text}",
            type="api_error",
            code=code,
        )
        ctx.error_code = code
        return Reply(status if status >= 400 else 502, headers, wrapped.body())


class _VertexStream:
    """One upstream SSE response being translated; closed exactly once, even if never iterated."""

    __slots__ = (
        "_ctx",
        "_decoder",
        "_deployment",
        "_exited",
        "_gen",
        "_reply",
        "_response",
        "_streamed",
        "translator",
    )

    def __init__(
        self, ctx: RequestContext, deployment: Deployment, streamed: Any, translator: StreamTranslator
    ) -> None:
        self._ctx = ctx
        self._deployment = deployment
        self._streamed = streamed
        self._response: Response | None = None
        self._exited = True  # until the response is entered there is nothing to close
        self._decoder = SseDecoder()
        self.translator = translator

    def entered(self, response: Response) -> None:
        self._response = response
        self._exited = False

    async def first_events(self) -> bytes:
        """Read until the first event (or the end): the stream is committed only after it."""
        assert self._response is not None
        reader, translator = self._response.body_reader, self.translator
        out = b""
        while translator.events == 0 and translator.error is None:
            chunk: Any = await reader.read_chunk()
            if chunk is None:
                break
            out += translator.feed(self._decoder.feed(chunk))
        return out

    def start(self, first: bytes) -> StreamReply:
        self._gen = self._chunks(first)
        self._reply = StreamReply(200, list(_SSE), self._gen, self.aclose)
        return self._reply

    async def aclose(self) -> None:
        await self._gen.aclose()
        await self.close_upstream()

    async def close_upstream(self, drain: bool = False) -> None:
        if self._exited:
            return
        self._exited = True
        if drain and self._response is not None:
            # Reading the end of the body returns the connection to the pool (bounded reads).
            reader = self._response.body_reader
            with contextlib.suppress(RequestError, TimeoutError):
                for _ in range(_DRAIN_READS):
                    if await reader.read_chunk() is None:
                        break
        await self._streamed.__aexit__(None, None, None)

    def _settled(self, reads_after_finish: int) -> bool:
        """Nothing more to wait for: every candidate finished and usage arrived (or stopped coming)."""
        translator = self.translator
        return translator.done and (translator.final_usage or reads_after_finish >= _DRAIN_READS)

    def _failure(self) -> GatewayError:
        translator, name = self.translator, self._deployment.name
        if translator.error is not None:
            return translator.error
        if translator.blocked is not None:
            return upstream_interrupted(name, "the upstream blocked the prompt mid-stream")
        return upstream_interrupted(name, "the upstream closed the stream before finishing")

    async def _chunks(self, out: bytes) -> AsyncGenerator[bytes, None]:
        translator, reply, ctx, decoder = self.translator, self._reply, self._ctx, self._decoder
        assert self._response is not None
        reader = self._response.body_reader
        reads_after_finish = 0
        try:
            while not self._settled(reads_after_finish):
                if out:
                    ctx.mark_first_token()
                    yield out
                    out = b""
                if translator.error is not None or translator.blocked is not None:
                    break
                chunk: Any = await reader.read_chunk()
                if chunk is None:
                    break
                if translator.done:
                    reads_after_finish += 1  # only a trailing usage event is still worth waiting for
                out = translator.feed(decoder.feed(chunk))
            if translator.done and translator.error is None:
                # Accounted before the last bytes are handed over (see StreamReply.complete).
                _account_stream(ctx, translator)
                reply.complete = True
                ctx.mark_first_token()
                yield out + translator.usage_frame()
                return
            if out:
                yield out
            reply.error = self._failure()
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
            if not reply.complete:
                _account_stream(ctx, translator)
            await self.close_upstream(drain=reply.complete)


def _account(ctx: RequestContext, usage: dict[str, Any] | None) -> None:
    if usage is None:
        return
    ctx.usage.prompt_tokens = usage["prompt_tokens"]
    ctx.usage.completion_tokens = usage["completion_tokens"]
    details = usage.get("prompt_tokens_details")
    if details:
        ctx.usage.cached_tokens = details["cached_tokens"]


def _account_stream(ctx: RequestContext, translator: StreamTranslator) -> None:
    usage = translator.usage
    _account(ctx, usage)
    if translator.chars and (usage is None or not usage["completion_tokens"]):
        # No output count from upstream (a cut stream, or only the prompt's count so far): estimate
        # ~4 characters per token, as openai.py does.
        ctx.usage.completion_tokens = (translator.chars + 3) // 4
        ctx.usage.estimated = True
