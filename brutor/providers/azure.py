"""Azure OpenAI: OpenAI's wire format behind per-deployment URLs, an ``api-version`` and its own auth.

``{base}/openai/deployments/{deployment}/chat/completions?api-version=...`` (and ``/embeddings``), where
the deployment is the model's ``upstream_model``. Bodies, streams, usage and errors go through the OpenAI
provider's code: one ``OpenAIProvider`` per Azure deployment, all sharing one pooled client, so streams
use the same native relay. Azure's extra ``prompt_filter_results`` / ``content_filter_results`` fields pass
through untouched.

Mapping decisions:
- Auth: ``api-key: <key>`` when ``api_key`` is set, else ``Authorization: Bearer <azure_ad_token>``, read
  per request so rotated secrets apply (an Entra token is static: rotate it through brutor.credentials).
- The prompt filter's 400 ``content_filter`` error keeps its status and becomes OpenAI's
  ``content_policy_violation`` code (Azure's ``innererror`` detail is kept); Azure errors that lack
  OpenAI's ``type``/``param`` get them, so every error body has OpenAI's shape.
- API versions before 2024-08-01 reject ``stream_options``: for those the gateway does not ask for
  stream usage (the relay then estimates completion tokens).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import orjson
from pydantic import SecretStr
from pyreqwest.client import Client

from brutor.config import ProviderConfig
from brutor.context import RequestContext
from brutor.http.upstream import build_client
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers.base import Deployment
from brutor.providers.openai import OpenAIProvider

# First API version that accepts stream_options (usage in streams).
_STREAM_USAGE_SINCE = "2024-08-01"
_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


class AzureOpenAIProvider:
    owner = "azure-openai"

    def __init__(self, cfg: ProviderConfig, client: Client | None = None) -> None:
        self.name = cfg.name
        self._cfg = cfg
        # The resource endpoint; one written with the "/openai" path suffix is accepted too.
        base = (cfg.base_url or "").rstrip("/").removesuffix("/openai")
        self._base = f"{base}/openai/deployments/"
        api_version = cfg.api_version or ""
        self._query = "?" + urlencode({"api-version": api_version})
        self._stream_usage = api_version[:10] >= _STREAM_USAGE_SINCE
        # Read per request (not a client default header) so a rotated secret (brutor.credentials) applies.
        self._auth: tuple[str, str, SecretStr]
        if cfg.api_key is not None:
            self._auth = ("api-key", "", cfg.api_key)
        elif cfg.azure_ad_token is not None:
            self._auth = ("authorization", "Bearer ", cfg.azure_ad_token)
        else:
            raise ValueError(f"provider '{cfg.name}': an azure provider needs api_key or azure_ad_token")
        headers = {"content-type": "application/json", **cfg.headers}
        self._client = client or build_client(cfg.timeouts, cfg.pool, headers)
        # One OpenAIProvider per Azure deployment (few, bounded by the config's models).
        self._deployments: dict[str, _AzureDeployment] = {}

    async def aclose(self) -> None:
        await self._client.close()

    def _deployment(self, deployment: Deployment) -> _AzureDeployment:
        name = deployment.upstream_model
        served = self._deployments.get(name)
        if served is None:
            url = f"{self._base}{quote(name, safe='')}"
            served = _AzureDeployment(
                self._cfg, self._client, url, self._query, self._stream_usage, self._auth
            )
            self._deployments[name] = served
        return served

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        reply = await self._deployment(deployment).chat(ctx, deployment, payload)
        return _openai_error(ctx, reply) if isinstance(reply, Reply) and reply.status >= 400 else reply

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        reply = await self._deployment(deployment).embeddings(ctx, deployment, payload)
        return _openai_error(ctx, reply) if reply.status >= 400 else reply


class _AzureDeployment(OpenAIProvider):
    """The OpenAI provider aimed at one Azure deployment's URLs (its client is shared, never closed here)."""

    def __init__(
        self,
        cfg: ProviderConfig,
        client: Client,
        url: str,
        query: str,
        stream_usage: bool,
        auth: tuple[str, str, SecretStr],
    ) -> None:
        super().__init__(cfg, client)
        self._live_key = None  # OpenAI's "Bearer <api_key>" is not Azure's scheme; see _headers
        self._auth = auth
        self._chat_url = f"{url}/chat/completions{query}"
        self._embeddings_url = f"{url}/embeddings{query}"
        self._stream_usage = stream_usage

    def _headers(self, builder: Any, ctx: RequestContext) -> Any:
        name, prefix, secret = self._auth
        return super()._headers(builder.header(name, prefix + secret.get_secret_value()), ctx)

    def _request_body(self, deployment: Deployment, payload: dict[str, Any], **overrides: Any) -> bytes:
        if not self._stream_usage:
            overrides.pop("stream_options", None)
        return super()._request_body(deployment, payload, **overrides)


def _openai_error(ctx: RequestContext, reply: Reply) -> Reply:
    """Azure error bodies in OpenAI's exact shape; the prompt filter's code becomes OpenAI's."""
    body = reply.body
    if not isinstance(body, bytes):
        return reply
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return reply
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return reply
    changed = False
    code = error.get("code")
    if code == "content_filter":
        error["code"] = ctx.error_code = "content_policy_violation"
        changed = True
    elif reply.status == 429 and code in ("429", "RateLimitReached", None):
        # Azure says "429"; OpenAI clients (and the audit's error codes) know this one.
        error["code"] = ctx.error_code = "rate_limit_exceeded"
        changed = True
    if not isinstance(error.get("type"), str):
        error["type"] = _ERROR_TYPES.get(
            reply.status, "server_error" if reply.status >= 500 else "invalid_request_error"
        )
        changed = True
    if "param" not in error:
        error["param"] = None
        changed = True
    if not isinstance(error.get("message"), str):
        error["message"] = f"Azure OpenAI answered {reply.status}."
        changed = True
    if changed:
        reply.body = orjson.dumps(doc)
    return reply
