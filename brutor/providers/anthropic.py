"""Anthropic's Messages API (``POST /v1/messages``) behind the OpenAI chat-completions interface.

Requests are translated in Python once per call (``anthropic_translate``); streamed answers are translated
event by event in Rust (``AnthropicStreamTranslator``: one call per network chunk). Usage is recorded on
every request, streamed or not, whether or not the client asked for it. Anthropic errors become
OpenAI-shaped errors with Anthropic's status (429, 500, 529 stay retryable for the router) and its
``retry-after``. Anthropic has no embeddings API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from pyreqwest.client import Client
from pyreqwest.response import Response

from brutor._native import AnthropicStreamTranslator
from brutor.config import ProviderConfig
from brutor.context import RequestContext
from brutor.credentials import LiveSecret
from brutor.errors import bad_request
from brutor.http.upstream import build_client
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers import translated as tr
from brutor.providers.anthropic_translate import ERROR_STATUS, error_fields, from_anthropic, to_anthropic
from brutor.providers.base import Deployment


class AnthropicProvider:
    owner = "anthropic"

    def __init__(
        self, cfg: ProviderConfig, client: Client | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = cfg.name
        self._clock = clock  # the answers' ``created`` (fixed in tests)
        self._url = f"{cfg.effective_base_url}/v1/messages"
        timeouts = cfg.timeouts
        self._unary_deadline = timedelta(seconds=min(timeouts.first_byte, timeouts.total))
        self._stream_deadline = timedelta(seconds=timeouts.total)
        self._first_byte = timeouts.first_byte if timeouts.first_byte < timeouts.idle else None
        headers = {
            "content-type": "application/json",
            "anthropic-version": cfg.anthropic_version,
            **cfg.headers,
        }
        # A rotating key (a LiveSecret, see brutor.credentials) is read per request; a static one is set once.
        self._live_key = cfg.api_key if isinstance(cfg.api_key, LiveSecret) else None
        if cfg.api_key is not None and self._live_key is None:
            headers["x-api-key"] = cfg.api_key.get_secret_value()
        self._client = client or build_client(cfg.timeouts, cfg.pool, headers)

    async def aclose(self) -> None:
        await self._client.close()

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        raise bad_request(
            f"Model '{deployment.name}' is served by Anthropic, which has no embeddings API.",
            code="unsupported_operation",
            param="model",
        )

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        stream = ctx.call is not None and ctx.call.stream
        body = orjson.dumps(to_anthropic(payload, deployment.upstream_model, stream=stream))
        builder = self._client.post(self._url).header("x-request-id", ctx.request_id)
        if self._live_key is not None:
            builder = builder.header("x-api-key", self._live_key.get_secret_value())
        for name, value in (ctx.upstream_headers or {}).items():
            builder = builder.header(name, value)
        builder = tr.traced(builder, ctx).body_bytes(body)
        fallback_id = f"chatcmpl-brutor-{ctx.request_id}"
        created = int(self._clock())
        if not stream:
            return await tr.send_unary(
                ctx,
                deployment,
                builder,
                self._unary_deadline,
                lambda c, r, raw: _status_error(c, deployment, r, raw),
                lambda doc: from_anthropic(
                    doc, ctx, fallback_id=fallback_id, created=created, model=deployment.name
                ),
            )
        translator = AnthropicStreamTranslator(
            fallback_id, deployment.name, created, include_usage=tr.wants_usage(payload)
        )
        streamed = builder.streamed_read_buffer_limit(1).timeout(self._stream_deadline).build_streamed()
        return await tr.open_stream(
            ctx,
            deployment,
            streamed,
            translator,
            first_byte_s=self._first_byte,
            status_error=lambda c, r, raw: _status_error(c, deployment, r, raw),
            early_error=_early_error,
        )


def _status_error(ctx: RequestContext, deployment: Deployment, response: Response, raw: bytes) -> Reply:
    fields = error_fields(tr.json_or_none(raw), response.status)
    if fields is None:
        return tr.non_json_error(ctx, deployment, response, raw)
    code, type, message = fields
    return tr.error_reply(ctx, response, response.status, code, type, message)


def _early_error(ctx: RequestContext, response: Response, t: tr.Translator) -> Reply:
    """An ``error`` event before the answer began: an error reply with the status Anthropic gives that
    error type over HTTP (``overloaded_error`` → 529), so the router can retry."""
    code = t.error_type or "api_error"
    fields = error_fields({"error": {"type": code, "message": t.error_message}}, 500)
    assert fields is not None
    _, type, message = fields
    return tr.error_reply(ctx, response, ERROR_STATUS.get(code, 502), code, type, message)
