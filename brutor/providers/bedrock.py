"""AWS Bedrock's Converse API (``POST /model/{modelId}/converse`` and ``/converse-stream``) behind the
OpenAI chat-completions interface.

Requests are translated in Python (``bedrock_translate``) and signed with SigV4 over the exact bytes sent
(``bedrock_sign``). Streams arrive in AWS's binary event-stream framing, which is decoded (both CRCs
checked) and translated to OpenAI chunks in Rust (``BedrockStreamTranslator``: one call per network
chunk). An exception inside the stream ends the client's stream with an error, never a clean end; one
that arrives before the answer began becomes an error reply with the status Bedrock gives it over HTTP
(``throttlingException`` → 429), which the router may retry. Usage comes from the ``metadata`` event.

Chunk and completion ids are ``chatcmpl-brutor-<request id>`` (Converse has no message id). Embeddings
(InvokeModel with model-specific bodies) are not offered here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import orjson
from pyreqwest.client import Client
from pyreqwest.response import Response

from brutor._native import BedrockStreamTranslator
from brutor.config import ProviderConfig
from brutor.context import RequestContext
from brutor.errors import bad_request
from brutor.http.upstream import build_client
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers import translated as tr
from brutor.providers.base import Deployment
from brutor.providers.bedrock_sign import BedrockAuth, Clock, _utc_now
from brutor.providers.bedrock_translate import EXCEPTION_STATUS, error_fields, from_converse, to_converse


class BedrockProvider:
    owner = "aws-bedrock"

    def __init__(self, cfg: ProviderConfig, client: Client | None = None, clock: Clock = _utc_now) -> None:
        self.name = cfg.name
        base = cfg.effective_base_url
        assert base is not None  # config validation requires region or base_url
        self._base = base
        self._headers = {"content-type": "application/json", **cfg.headers}
        self.auth = BedrockAuth(cfg, clock)
        self._clock = clock  # signing time and the answers' ``created`` (fixed in tests)
        timeouts = cfg.timeouts
        self._unary_deadline = timedelta(seconds=min(timeouts.first_byte, timeouts.total))
        self._stream_deadline = timedelta(seconds=timeouts.total)
        self._first_byte = timeouts.first_byte if timeouts.first_byte < timeouts.idle else None
        # Every header that must be signed is set per request, so the client has no defaults.
        self._client = client or build_client(cfg.timeouts, cfg.pool, {})

    async def aclose(self) -> None:
        await self._client.close()

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        raise bad_request(
            f"Model '{deployment.name}' is served by Bedrock Converse, which offers no embeddings here.",
            code="unsupported_operation",
            param="model",
        )

    def url(self, model: str, stream: bool) -> str:
        # The model id is one path segment: ':' and '/' (ARNs, versioned ids) are percent-encoded, as the
        # AWS SDKs do; the signature covers this exact path.
        return f"{self._base}/model/{quote(model, safe='')}/{'converse-stream' if stream else 'converse'}"

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        stream = ctx.call is not None and ctx.call.stream
        body = orjson.dumps(to_converse(payload))
        url = self.url(deployment.upstream_model, stream)
        # The route's extra headers are signed with the rest.
        extra = ctx.upstream_headers
        headers = await self.auth.headers(url, body, {**self._headers, **extra} if extra else self._headers)
        builder = self._client.post(url).headers(headers).header("x-request-id", ctx.request_id)
        builder = tr.traced(builder, ctx).body_bytes(body)
        answer_id = f"chatcmpl-brutor-{ctx.request_id}"
        created = int(self._clock().timestamp())
        if not stream:
            return await tr.send_unary(
                ctx,
                deployment,
                builder,
                self._unary_deadline,
                lambda c, r, raw: _status_error(c, deployment, r, raw),
                lambda doc: from_converse(doc, ctx, id=answer_id, created=created, model=deployment.name),
            )
        translator = BedrockStreamTranslator(
            answer_id, deployment.name, created, include_usage=tr.wants_usage(payload)
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
    doc = tr.json_or_none(raw)
    error_type = response.headers.get("x-amzn-errortype")
    if doc is None and error_type is None:
        return tr.non_json_error(ctx, deployment, response, raw)
    code, type, message = error_fields(doc, error_type, response.status)
    return tr.error_reply(ctx, response, response.status, code, type, message)


def _early_error(ctx: RequestContext, response: Response, t: tr.Translator) -> Reply:
    """An exception before the answer began: an error reply with the status Bedrock gives it over HTTP."""
    kind = t.error_type or "internalServerException"
    status = EXCEPTION_STATUS.get(kind, 502)
    code = kind[:1].upper() + kind[1:]
    message = t.error_message or f"Bedrock reported {code}."
    return tr.error_reply(ctx, response, status, code, tr.openai_error_type(status), message)
