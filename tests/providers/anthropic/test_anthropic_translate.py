"""Golden tests of the OpenAI → Anthropic request mapping and the Anthropic → OpenAI answer mapping.

Each ``golden/request_*.json`` holds an OpenAI request and the exact Messages request expected; the
expected request is also checked with the anthropic SDK (its ``MessageCreateParams`` types, unknown keys
included, and the body the SDK itself sends for those parameters). Each ``golden/response_*.json`` holds
a Messages answer (checked against the SDK's ``Message`` model) and the exact OpenAI answer (checked
against the openai SDK's ``ChatCompletion`` model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import pytest
from anthropic.types import Message
from mock_anthropic import SAMPLING, validate_params
from openai.types.chat import ChatCompletion

from brutor.context import RequestContext
from brutor.errors import GatewayError
from brutor.providers.anthropic_translate import DEFAULT_MAX_TOKENS, from_anthropic, to_anthropic

GOLDEN = Path(__file__).parent / "golden"
UPSTREAM_MODEL = "claude-sonnet-4-6"


def _cases(prefix: str) -> list[Any]:
    return [
        pytest.param(json.loads(p.read_text()), id=p.stem) for p in sorted(GOLDEN.glob(f"{prefix}_*.json"))
    ]


def sdk_request(body: dict[str, Any]) -> httpx.Request:
    """The HTTP request the anthropic SDK sends for ``body``'s parameters (it refuses unknown ones; the
    sampling parameters it no longer lists go in ``extra_body``)."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if body.get("stream"):
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=b"")
        message = {
            "id": "msg_x",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
        return httpx.Response(200, json=message)

    params = {k: v for k, v in body.items() if k not in SAMPLING}
    sampling = {k: v for k, v in body.items() if k in SAMPLING}
    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        client = anthropic.Anthropic(
            api_key="k", base_url="http://anthropic.test", http_client=http, max_retries=0
        )
        result: Any = client.messages.create(**params, extra_body=sampling or None)
        if body.get("stream"):
            result.close()
    (request,) = sent
    return request


@pytest.mark.parametrize("case", _cases("request"))
def test_request_golden(case: dict[str, Any]) -> None:
    got = to_anthropic(case["openai"], UPSTREAM_MODEL, stream=case["stream"])
    assert got == case["anthropic"]
    # Same keys in the same order as the golden (the wire bytes are compared in test_anthropic_provider).
    assert list(got) == list(case["anthropic"])


@pytest.mark.parametrize("case", _cases("request"))
def test_golden_requests_are_valid_for_the_sdk(case: dict[str, Any]) -> None:
    body = case["anthropic"]
    assert validate_params(body) is None
    request = sdk_request(body)
    assert request.url.path == "/v1/messages"
    assert json.loads(request.content) == body


@pytest.mark.parametrize("case", _cases("response"))
def test_response_golden(case: dict[str, Any]) -> None:
    Message.model_validate(case["anthropic"])
    ctx = RequestContext("req1", {})
    got = from_anthropic(case["anthropic"], ctx, fallback_id="chatcmpl-x", created=1700000000, model="claude")
    assert got == case["openai"]
    ChatCompletion.model_validate(got)
    usage = case["openai"]["usage"]
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens, ctx.usage.cached_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["prompt_tokens_details"]["cached_tokens"],
    )


def test_response_without_id_or_usage_uses_fallbacks() -> None:
    ctx = RequestContext("req1", {})
    got = from_anthropic({"content": "odd", "stop_reason": None}, ctx, fallback_id="fb", created=1, model="m")
    assert got["id"] == "fb"
    assert got["choices"][0]["message"]["content"] == ""
    assert got["choices"][0]["finish_reason"] == "stop"
    assert got["usage"]["total_tokens"] == 0


def test_default_max_tokens_applies_only_when_absent() -> None:
    base: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert to_anthropic(base, "u", stream=False)["max_tokens"] == DEFAULT_MAX_TOKENS
    assert to_anthropic({**base, "max_tokens": 7}, "u", stream=False)["max_tokens"] == 7
    assert (
        to_anthropic({**base, "max_tokens": 7, "max_completion_tokens": 9}, "u", stream=False)["max_tokens"]
        == 9
    )


def test_parallel_tool_calls_false_without_tool_choice_adds_auto() -> None:
    payload = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "parallel_tool_calls": False,
    }
    body = to_anthropic(payload, "u", stream=False)
    assert body["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert validate_params(body) is None
    # tool_choice without tools is not sent (Anthropic would refuse it).
    no_tools = to_anthropic({**payload, "tools": None, "tool_choice": "auto"}, "u", stream=False)
    assert "tools" not in no_tools and "tool_choice" not in no_tools


def test_refusal_parts_and_mid_conversation_system_messages() -> None:
    payload = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
            {"role": "system", "content": "late rule"},
            {"role": "user", "content": ""},
            {"role": "user", "content": "b"},
        ],
    }
    body = to_anthropic(payload, "u", stream=False)
    assert body["system"] == "late rule"
    assert body["messages"] == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "no"},
        {"role": "user", "content": "b"},
    ]


UNSUPPORTED = [
    ({"n": 2}, "n"),
    ({"logprobs": True}, "logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"response_format": {"type": "json_object"}}, "response_format"),
    (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
        "response_format",
    ),
    ({"modalities": ["text", "audio"]}, "modalities"),
    ({"audio": {"voice": "alloy", "format": "mp3"}}, "modalities"),
    ({"web_search_options": {}}, "web_search_options"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"function_call": "auto"}, "function_call"),
    ({"stop": 5}, "stop"),
    ({"temperature": "hot"}, "temperature"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0]"),
    ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"}, "tool_choice"),
]


@pytest.mark.parametrize(("extra", "param"), UNSUPPORTED)
def test_unsupported_parameters_are_400(extra: dict[str, Any], param: str) -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(GatewayError) as info:
        to_anthropic(payload, "u", stream=False)
    assert info.value.status == 400
    assert info.value.param == param
    assert info.value.message


def test_harmless_parameters_are_dropped_and_text_format_accepted() -> None:
    payload = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "n": 1,
        "logprobs": False,
        "response_format": {"type": "text"},
        "seed": 1,
        "service_tier": "auto",
        "prediction": {"type": "content", "content": "x"},
        "reasoning_effort": "low",
        "some_future_field": {"a": 1},
    }
    assert to_anthropic(payload, "u", stream=False) == {
        "model": "u",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "x"}],
    }


BAD_MESSAGES = [
    ([{"role": "system", "content": "only a system prompt"}], "messages"),
    ([{"role": "function", "name": "f", "content": "x"}], "messages[0]"),
    ([{"role": "user", "content": 5}], "messages[0]"),
    ([{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}], "messages[0].content[0]"),
    (
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]}],
        "messages[0].content[0]",
    ),
    (
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}]}],
        "messages[0].content[0]",
    ),
    ([{"role": "tool", "content": "x"}], "messages[0]"),
    (
        [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}
                ],
            }
        ],
        "messages[0].tool_calls[0]",
    ),
    (
        [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
                ],
            }
        ],
        "messages[0].tool_calls[0]",
    ),
    (
        [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}],
        "messages[0].tool_calls[0]",
    ),
]


@pytest.mark.parametrize(("messages", "param"), BAD_MESSAGES)
def test_malformed_messages_are_400(messages: list[Any], param: str) -> None:
    with pytest.raises(GatewayError) as info:
        to_anthropic({"model": "m", "messages": messages}, "u", stream=False)
    assert info.value.status == 400
    assert info.value.param == param
