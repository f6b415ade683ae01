"""Decoding OpenAI-shaped request bodies into target-neutral Calls.

Only the fields the gateway itself relies on are validated here (model, messages, stream, input);
everything else is passed through for the provider to validate, so new OpenAI parameters work unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson

from brutor.context import Call, Target
from brutor.errors import bad_request

_MAX_MODEL_NAME = 256


def _object(body: bytes) -> dict[str, Any]:
    if not body:
        raise bad_request("The request body is empty; a JSON object is required.", code="invalid_json")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc.msg}.", code="invalid_json") from None
    if not isinstance(doc, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return doc


def _required(doc: dict[str, Any], name: str) -> Any:
    value = doc.get(name)
    if value is None:
        raise bad_request(
            f"Missing required parameter: '{name}'.", code="missing_required_parameter", param=name
        )
    return value


def _model(doc: dict[str, Any]) -> str:
    model = _required(doc, "model")
    if not isinstance(model, str) or not model or len(model) > _MAX_MODEL_NAME:
        raise bad_request("'model' must be a non-empty string.", param="model")
    return model


def _flag(doc: dict[str, Any], name: str) -> bool:
    value = doc.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"'{name}' must be a boolean.", param=name)
    return value


def _max_output(doc: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = doc.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad_request(f"'{name}' must be a positive integer.", param=name)
        return value
    return None


def decode_chat(body: bytes) -> Call:
    doc = _object(body)
    model = _model(doc)
    messages = _required(doc, "messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty array.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise bad_request(
                f"'messages[{i}]' must be an object with a string 'role'.", param=f"messages[{i}]"
            )
    stream = _flag(doc, "stream")
    options = doc.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("'stream_options' must be an object.", param="stream_options")
        if not stream:
            raise bad_request(
                "'stream_options' is only allowed when 'stream' is true.", param="stream_options"
            )
    # ~4 bytes per token over the whole body: cheap, and conservative (JSON syntax counts too).
    return Call(Target.LLM, "chat.completions", model, stream, doc, len(body) // 4, _max_output(doc))


def decode_embeddings(body: bytes) -> Call:
    doc = _object(body)
    model = _model(doc)
    value = _required(doc, "input")
    if not isinstance(value, str | list) or (isinstance(value, list) and not value):
        raise bad_request("'input' must be a string or a non-empty array.", param="input")
    return Call(Target.LLM, "embeddings", model, False, doc, len(body) // 4, 0)


def model_entry(name: str, owner: str, created: int) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner}
