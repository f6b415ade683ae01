"""Cache keys of OpenAI chat bodies: when not to cache, the exact key, and the semantic scope.

Parameters are hashed by a deny-list, not an allow-list: every body field counts except the few known
not to change the answer (``IGNORED_FIELDS``). A parameter OpenAI adds tomorrow then splits the cache
(a lower hit rate) instead of merging requests that deserve different answers (a wrong answer).

The semantic path embeds only the text of the last user turn; everything else that shapes the answer
(system prompt, earlier turns, parameters, tenant, model) is hashed into the scope, and only vectors of
one scope are compared. Embedding a long shared prompt would push the question out of the model's
window and make different questions score 1.0 (``../shared/design/CACHE.md``).

Opt-out in the body: ``"brutor": {"cache": false}`` (what ``extra_body={"brutor": {"cache": False}}``
sends with the OpenAI SDK). The ``brutor`` object never reaches the key; the call stage must strip it
before forwarding upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from hashlib import blake2b
from typing import Any

import orjson

__all__ = [
    "DEFAULT_TEMPERATURE",
    "IGNORED_FIELDS",
    "bypass_reason",
    "exact_key",
    "last_user_text",
    "semantic_scope",
]

# Fields that never change the completion: transport (stream, stream_options), attribution and
# bookkeeping (user, metadata, store, safety_identifier, prompt_cache_key), scheduling (service_tier),
# the gateway's own extension (brutor), and the two hashed separately (model, messages).
IGNORED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "brutor",
    }
)
_TOOL_FIELDS = ("tools", "tool_choice", "functions", "function_call")
# OpenAI samples at 1.0 when the body names no temperature: that is what a policy maximum applies to.
DEFAULT_TEMPERATURE = 1.0
# Bumped when the canonical form changes, so old entries stop matching instead of matching wrongly.
_VERSION = b"brutor-cache-v1"


def bypass_reason(
    payload: Mapping[str, Any], headers: Mapping[str, str] | None, max_temperature: float | None
) -> str | None:
    """Why this chat body must not be served from (or stored in) the cache, or None when it may be.

    Reasons: ``body-flag``, ``no-cache``, ``tools``, ``n``, ``temperature``, ``not-text``.
    ``max_temperature`` None means the policy sets no limit.
    """
    ext = payload.get("brutor")
    if isinstance(ext, Mapping) and ext.get("cache") is False:
        return "body-flag"
    if headers is not None and _no_cache(_header(headers, "cache-control")):
        return "no-cache"
    if any(payload.get(name) is not None for name in _TOOL_FIELDS):
        return "tools"  # tool calls act on the world: the same question may need a fresh answer
    n = payload.get("n")
    if isinstance(n, int) and n > 1:
        return "n"
    if max_temperature is not None:
        temperature = payload.get("temperature")
        if temperature is None:
            temperature = DEFAULT_TEMPERATURE
        if not isinstance(temperature, int | float) or temperature > max_temperature:
            return "temperature"
    last = _last_user(payload)
    if last is not None and _text(last.get("content")) is None:
        return "not-text"
    return None


def exact_key(tenant: str, model: str, payload: Mapping[str, Any]) -> str:
    """The blake2b hex digest of the canonical request: equal for bodies that must get the same answer."""
    messages = [_message(m) for m in _messages(payload)]
    return _digest(b"exact", tenant, model, _params(payload), messages)


def semantic_scope(tenant: str, model: str, payload: Mapping[str, Any]) -> str:
    """The hash of everything but the last user turn's text: only vectors of one scope are compared.

    The last user message still counts by its position and other fields (``name``), so a scope never
    mixes conversations of different shapes.
    """
    messages = _messages(payload)
    index = _last_user_index(messages)
    canonical = []
    for i, m in enumerate(messages):
        item = _message(m)
        if i == index:
            item["content"] = None  # the part that is embedded instead
        canonical.append(item)
    return _digest(b"scope", tenant, model, _params(payload), canonical)


def last_user_text(payload: Mapping[str, Any]) -> str | None:
    """The text of the last user turn (parts joined by newlines), or None when there is none or it
    holds non-text parts: then there is nothing to embed."""
    last = _last_user(payload)
    if last is None:
        return None
    text = _text(last.get("content"))
    return text or None


def _digest(kind: bytes, tenant: str, model: str, params: dict[str, Any], messages: list[Any]) -> str:
    doc = {"tenant": tenant, "model": model, "params": params, "messages": messages}
    h = blake2b(_VERSION, digest_size=32)
    h.update(b"\0" + kind + b"\0")
    h.update(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS))
    return h.hexdigest()


def _params(payload: Mapping[str, Any]) -> dict[str, Any]:
    # None means "not sent" in OpenAI's API: {"seed": null} and no seed must share a key.
    return {k: v for k, v in payload.items() if k not in IGNORED_FIELDS and v is not None}


def _messages(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, Mapping)]


def _message(message: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of a message (tool_calls, name, ... change the answer), content in one form: a
    string for text, whether sent as a string or as text parts; other parts kept as sent."""
    item = {k: v for k, v in message.items() if v is not None}
    content = message.get("content")
    text = _text(content)
    item["content"] = text if text is not None else content
    return item


def _text(content: Any) -> str | None:
    """Text content as one string (parts joined by newlines), or None if any part is not text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if (
            not isinstance(part, Mapping)
            or part.get("type") != "text"
            or not isinstance(part.get("text"), str)
        ):
            return None
        texts.append(part["text"])
    return "\n".join(texts)


def _last_user_index(messages: list[Mapping[str, Any]]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return -1


def _last_user(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    messages = _messages(payload)
    index = _last_user_index(messages)
    return messages[index] if index >= 0 else None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        # A plain dict is case-sensitive; the server's header mapping is not.
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _no_cache(value: str | None) -> bool:
    if not value:
        return False
    for directive in value.split(","):
        token = directive.split("=", 1)[0].strip().lower()
        if token in ("no-cache", "no-store"):
            return True
    return False
