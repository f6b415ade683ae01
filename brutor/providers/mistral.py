"""Mistral's native API (``POST {base}/v1/chat/completions``, ``/v1/embeddings``).

The wire format is OpenAI's with differences, and Mistral refuses any field it does not know (422
"Extra inputs are not permitted"), so bodies are translated rather than forwarded as sent. Responses and
streams are OpenAI-shaped (usage arrives inside the last stream chunk, which carries ``finish_reason``
too) and go through the OpenAI provider's code and native relay unchanged.

Mapping decisions (Mistral's API reference, checked against its published client models):
- ``tool_choice: "required"`` -> ``"any"`` (the value every Mistral model and API version knows);
  ``seed`` -> ``random_seed``; ``max_completion_tokens`` -> ``max_tokens``; ``developer`` role -> ``system``.
- ``n`` and ``parallel_tool_calls`` are passed (Mistral supports both today; an older model that does not
  answers its own 4xx, which reaches the client).
- Dropped, as they only label or route the request: ``user``, ``store``, ``service_tier``,
  ``stream_options`` (Mistral always reports stream usage), ``logprobs: false``, text-only ``modalities``.
- Refused with 400, as dropping them would silently change the answer: ``logprobs``/``top_logprobs``
  and a non-empty ``logit_bias``.
- Messages keep only the keys Mistral accepts for their role (the openai SDK echoes back ``refusal``,
  ``annotations``, ``audio``... on assistant messages, which Mistral would refuse).
- Embeddings: ``dimensions`` -> ``output_dimension``; ``user`` dropped.
"""

from __future__ import annotations

from typing import Any

from pyreqwest.client import Client

from brutor.config import ProviderConfig
from brutor.context import RequestContext
from brutor.errors import bad_request
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers.base import Deployment
from brutor.providers.openai import OpenAIProvider

_DROPPED = frozenset(("user", "store", "service_tier", "stream_options"))
_MESSAGE_KEYS = {
    "system": frozenset(("role", "content")),
    "user": frozenset(("role", "content")),
    "assistant": frozenset(("role", "content", "tool_calls", "prefix")),
    "tool": frozenset(("role", "content", "tool_call_id", "name")),
}


class MistralProvider(OpenAIProvider):
    owner = "mistral"

    def __init__(self, cfg: ProviderConfig, client: Client | None = None) -> None:
        super().__init__(cfg, client)
        # Paths carry /v1 themselves; a base_url written the OpenAI way (".../v1") is accepted too.
        base = (cfg.effective_base_url or "").rstrip("/").removesuffix("/v1")
        self._chat_url = f"{base}/v1/chat/completions"
        self._embeddings_url = f"{base}/v1/embeddings"

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        return await super().chat(ctx, deployment, chat_body(payload))

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        return await super().embeddings(ctx, deployment, embeddings_body(payload))

    def _request_body(self, deployment: Deployment, payload: dict[str, Any], **overrides: Any) -> bytes:
        # The OpenAI stream path asks for stream_options.include_usage; Mistral refuses the field and
        # sends usage in its last chunk anyway.
        overrides.pop("stream_options", None)
        return super()._request_body(deployment, payload, **overrides)


def chat_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The Mistral chat body for an OpenAI one (a new dict; the client's is not modified)."""
    if payload.get("logprobs") or payload.get("top_logprobs") is not None:
        raise bad_request("'logprobs' is not supported by Mistral deployments.", param="logprobs")
    if payload.get("logit_bias"):
        raise bad_request("'logit_bias' is not supported by Mistral deployments.", param="logit_bias")
    body = {k: v for k, v in payload.items() if k not in _DROPPED and v is not None}
    body.pop("logprobs", None)
    body.pop("logit_bias", None)
    if body.get("modalities") == ["text"]:
        del body["modalities"]
    _rename(body, "max_completion_tokens", "max_tokens")
    _rename(body, "seed", "random_seed")
    if body.get("tool_choice") == "required":
        body["tool_choice"] = "any"
    body["messages"] = [_message(m) for m in payload["messages"]]
    return body


def embeddings_body(payload: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in payload.items() if k != "user" and v is not None}
    _rename(body, "dimensions", "output_dimension")
    return body


def _rename(body: dict[str, Any], openai: str, mistral: str) -> None:
    value = body.pop(openai, None)
    if value is not None and mistral not in body:
        body[mistral] = value


def _message(message: dict[str, Any]) -> dict[str, Any]:
    role = message["role"]
    if role == "developer":
        message = {**message, "role": "system"}
        role = "system"
    allowed = _MESSAGE_KEYS.get(role)
    if allowed is None or message.keys() <= allowed:
        return message  # unknown roles are Mistral's to refuse; clean messages are not copied
    return {k: v for k, v in message.items() if k in allowed and v is not None}
