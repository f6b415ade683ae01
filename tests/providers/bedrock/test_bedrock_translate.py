"""Golden tests of the OpenAI → Converse request mapping and the Converse → OpenAI answer mapping.

Each ``golden/request_*.json`` holds an OpenAI request, the model id, the exact Converse body and URL
path expected. The expected request is checked against botocore: its ParamValidator on the ``Converse``
input shape (unknown parameters included) and its own REST-JSON serializer, which must produce the same
path (the model id percent-encoded as one segment) and the same JSON body.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import serialize
from mock_bedrock import validate_converse
from openai.types.chat import ChatCompletion

from brutor.config import ProviderConfig
from brutor.context import RequestContext
from brutor.errors import GatewayError
from brutor.providers.bedrock import BedrockProvider
from brutor.providers.bedrock_translate import error_fields, from_converse, to_converse

GOLDEN = Path(__file__).parent / "golden"
MODEL = botocore.session.get_session().get_service_model("bedrock-runtime")


def _cases(prefix: str) -> list[Any]:
    return [
        pytest.param(json.loads(p.read_text()), id=p.stem) for p in sorted(GOLDEN.glob(f"{prefix}_*.json"))
    ]


def _blobs_as_bytes(body: dict[str, Any]) -> dict[str, Any]:
    """Converse's JSON carries blobs in base64; botocore's serializer takes them as bytes."""
    body = copy.deepcopy(body)
    for message in body["messages"]:
        for block in message["content"]:
            if "image" in block:
                block["image"]["source"]["bytes"] = base64.b64decode(block["image"]["source"]["bytes"])
    return body


@pytest.mark.parametrize("case", _cases("request"))
def test_request_golden(case: dict[str, Any]) -> None:
    got = to_converse(case["openai"])
    assert got == case["bedrock"]
    assert list(got) == list(case["bedrock"])


@pytest.mark.parametrize("case", _cases("request"))
def test_golden_requests_match_botocore(case: dict[str, Any]) -> None:
    assert validate_converse(case["model"], case["bedrock"]) is None
    operation = "ConverseStream" if case["stream"] else "Converse"
    serializer = serialize.create_serializer("rest-json", include_validation=True)
    params = {"modelId": case["model"], **_blobs_as_bytes(case["bedrock"])}
    request = serializer.serialize_to_request(params, MODEL.operation_model(operation))
    assert request["url_path"] == case["path"]
    assert json.loads(request["body"]) == case["bedrock"]
    cfg = ProviderConfig(name="b", type="bedrock", region="us-east-1")
    provider = BedrockProvider(cfg)
    assert (
        provider.url(case["model"], case["stream"])
        == "https://bedrock-runtime.us-east-1.amazonaws.com" + case["path"]
    )


@pytest.mark.parametrize("case", _cases("response"))
def test_response_golden(case: dict[str, Any]) -> None:
    ctx = RequestContext("req1", {})
    got = from_converse(case["bedrock"], ctx, id="chatcmpl-brutor-req1", created=1700000000, model="nova")
    assert got == case["openai"]
    ChatCompletion.model_validate(got)
    usage = case["openai"]["usage"]
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens, ctx.usage.cached_tokens) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["prompt_tokens_details"]["cached_tokens"],
    )


def test_tool_choice_none_keeps_tools_when_the_conversation_has_tool_turns() -> None:
    payload = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "r"},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": "none",
    }
    body = to_converse(payload)
    assert body["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}]
    }
    assert validate_converse("m", body) is None


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 3}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"modalities": ["audio"]}, "modalities"),
        ({"functions": []}, "functions"),
        ({"top_p": "x"}, "top_p"),
    ],
)
def test_unsupported_parameters_are_400(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as info:
        to_converse({"model": "m", "messages": [{"role": "user", "content": "x"}], **extra})
    assert info.value.status == 400 and info.value.param == param


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ([{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}], "data: URLs"),
        ([{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}], "image/tiff"),
        ([{"type": "image_url", "image_url": {"url": "data:image/png;base64"}}], "data: URL"),
        ([{"type": "file", "file": {"file_id": "f"}}], "'file'"),
    ],
)
def test_unsupported_content_is_400(content: list[Any], why: str) -> None:
    with pytest.raises(GatewayError) as info:
        to_converse({"model": "m", "messages": [{"role": "user", "content": content}]})
    assert info.value.status == 400 and why in info.value.message
    assert info.value.param == "messages[0].content[0]"


def test_only_system_messages_is_400() -> None:
    with pytest.raises(GatewayError) as info:
        to_converse({"model": "m", "messages": [{"role": "system", "content": "x"}]})
    assert info.value.param == "messages"


@pytest.mark.parametrize(
    ("doc", "header", "status", "want"),
    [
        (
            {"message": "Too many requests."},
            "ThrottlingException:http://internal.amazon.com/coral/x/",
            429,
            ("ThrottlingException", "rate_limit_error", "Too many requests."),
        ),
        ({"Message": "Bad input"}, None, 400, ("upstream_400", "invalid_request_error", "Bad input")),
        (
            {"__type": "com.amazon.coral.service#AccessDeniedException", "message": "no"},
            None,
            403,
            ("AccessDeniedException", "permission_error", "no"),
        ),
        (
            None,
            "ServiceUnavailableException",
            503,
            (
                "ServiceUnavailableException",
                "api_error",
                "Bedrock answered 503 (ServiceUnavailableException).",
            ),
        ),
        (
            {"message": "Model error"},
            "ModelErrorException",
            424,
            ("ModelErrorException", "api_error", "Model error"),
        ),
    ],
)
def test_error_fields(doc: Any, header: str | None, status: int, want: tuple[str, str, str]) -> None:
    assert error_fields(doc, header, status) == want
