"""A mock of Mistral's API, built on tests/mock_openai.py's handler (the formats are close).

What Mistral does differently, as its API reference and error reports show it: it refuses any field it
does not know with a 422 (``extra_forbidden``, Pydantic-style details under ``message``), also inside
messages; ``tool_choice`` accepts ``any``; the seed is ``random_seed``; stream usage always arrives in the
last chunk, next to ``finish_reason`` (``stream_options`` does not exist); errors are
``{"object": "error", "message", "type", "param", "code"}``; embeddings take ``output_dimension``.

Usage::

    mock = MockMistral().start()
    mock.base_url          # "http://127.0.0.1:<port>" (Mistral's base: paths start with /v1)

Model names select the behaviour as in mock_openai (``mock-gpt``, ``mock-429``, ``mock-500``...).
"""

from __future__ import annotations

import json
from typing import Any

from mock_openai import RETRY_AFTER_SECONDS, MockHandler, MockOpenAI

API_KEY = "mistral-key-8c2e7a41"
CHAT_FIELDS = frozenset(
    (
        "model", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed", "metadata", "messages",
        "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n", "prediction",
        "parallel_tool_calls", "reasoning_effort", "prompt_mode", "guardrails", "prompt_cache_key", "safe_prompt",
    )
)  # fmt: skip
MESSAGE_FIELDS = {
    "system": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "prefix"},
    "tool": {"role", "content", "tool_call_id", "name"},
}
EMBEDDING_FIELDS = frozenset(
    ("model", "input", "metadata", "output_dimension", "output_dtype", "encoding_format")
)
TOOL_CHOICES = ("auto", "none", "any", "required")


def _error(message: Any, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"object": "error", "message": message, "type": type_, "param": None, "code": code}


def _extra(loc: list[Any], value: Any) -> dict[str, Any]:
    return {
        "type": "extra_forbidden",
        "loc": ["body", *loc],
        "msg": "Extra inputs are not permitted",
        "input": value,
    }


def validation_errors(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors = [_extra([k], v) for k, v in body.items() if k not in CHAT_FIELDS]
    for i, message in enumerate(body.get("messages") or []):
        allowed = MESSAGE_FIELDS.get(message.get("role"))
        if allowed is None:
            errors.append({"type": "union_tag_invalid", "loc": ["body", "messages", i], "msg": "bad role"})
            continue
        errors += [
            _extra(["messages", i, message["role"], k], v) for k, v in message.items() if k not in allowed
        ]
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice not in TOOL_CHOICES:
        errors.append(
            {"type": "enum", "loc": ["body", "tool_choice"], "msg": "bad tool_choice", "input": choice}
        )
    return errors


class MistralHandler(MockHandler):
    server_version = "MockMistral/1.0"
    _held: dict[str, Any] | None = None

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.api_key}":
            return True
        self._send_json(401, {"message": "Unauthorized", "request_id": "mock"})
        return False

    def _chat(self, body: dict[str, Any]) -> None:
        errors = validation_errors(body)
        if errors:
            self._send_json(422, _error({"detail": errors}, "invalid_request_error"))
            return
        model = body.get("model")
        if model == "mock-429":
            self._send_json(
                429,
                _error("Requests rate limit exceeded", "rate_limited", "1300"),
                {"Retry-After": RETRY_AFTER_SECONDS},
            )
            return
        if model == "mock-500":
            self._send_json(500, _error("Internal server error", "internal_server_error", "1000"))
            return
        body = dict(body)
        if body.get("tool_choice") == "any":
            body["tool_choice"] = "required"
        if body.get("stream"):
            # Mistral always reports usage: have the OpenAI handler make its usage chunk, merged below.
            body["stream_options"] = {"include_usage": True}
        self._held = None
        super()._chat(body)

    def _send_event(self, obj: Any) -> None:
        if isinstance(obj, dict) and obj.get("choices") and obj["choices"][0].get("finish_reason"):
            self._held = obj  # the finish chunk waits for the usage, then both go out as one chunk
            return
        if isinstance(obj, dict) and "usage" in obj and self._held is not None:
            obj, self._held = {**self._held, "usage": obj["usage"]}, None
        elif obj == "[DONE]" and self._held is not None:
            super()._send_event(self._held)  # mock-no-usage: no usage chunk came
            self._held = None
        super()._send_event(obj)

    def _embeddings(self, body: dict[str, Any]) -> None:
        extra = [_extra([k], v) for k, v in body.items() if k not in EMBEDDING_FIELDS]
        if extra:
            self._send_json(422, _error({"detail": extra}, "invalid_request_error"))
            return
        body = dict(body)
        if "output_dimension" in body:
            body["dimensions"] = body.pop("output_dimension")
        super()._embeddings(body)


class MockMistral(MockOpenAI):
    def __init__(self) -> None:
        super().__init__(api_key=API_KEY)
        self.server.RequestHandlerClass = MistralHandler

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def forwarded(mock: MockMistral, path: str = "/v1/chat/completions") -> dict[str, Any]:
    """The last request the mock received on ``path``."""
    return json.loads(json.dumps(mock.requests(path)[-1]))
