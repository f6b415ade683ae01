"""OpenAI requests Vertex cannot express are refused with a 400 naming the parameter (never a 5xx)."""

from __future__ import annotations

from typing import Any

import pytest

from brutor.errors import GatewayError
from brutor.providers.vertex_request import build_request

USER = {"role": "user", "content": "hi"}
TOOL = {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"messages": [USER], "logprobs": True}, "logprobs"),
        ({"messages": [USER], "top_logprobs": 2}, "logprobs"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
        ({"messages": [{"role": "narrator", "content": "x"}]}, "messages[0]"),
        (
            {"messages": [USER, {"role": "tool", "tool_call_id": "call_x", "content": "1"}]},
            "messages[1].tool_call_id",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                    }
                ]
            },
            "messages[0].content",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}],
                    }
                ]
            },
            "messages[0].content",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
            "messages[0].content",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
                        ],
                    }
                ]
            },
            "messages[0]",
        ),
        ({"messages": [USER], "tools": [{"type": "code_interpreter"}]}, "tools"),
        ({"messages": [USER], "tools": [TOOL], "tool_choice": "sometimes"}, "tool_choice"),
    ],
)
def test_refused_with_400(payload: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as exc:
        build_request(payload)
    assert exc.value.status == 400
    assert exc.value.param == param
    assert exc.value.body().startswith(b'{"error":{"message":')


def test_dropped_parameters_do_not_reach_vertex() -> None:
    body = build_request(
        {
            "messages": [USER],
            "user": "u",
            "store": True,
            "metadata": {"k": "v"},
            "parallel_tool_calls": False,
            "service_tier": "auto",
            "logprobs": False,
            "stream": True,
            "stream_options": {"include_usage": True},
            "tool_choice": "auto",  # without tools: nothing to configure
        }
    )
    assert body == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def test_empty_assistant_turn_is_skipped_and_same_role_turns_merge() -> None:
    body = build_request(
        {
            "messages": [
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": ""},
                {"role": "user", "content": "b"},
            ]
        }
    )
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]


def test_non_object_and_empty_tool_results() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    body = build_request(
        {
            "messages": [
                USER,
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "[1, 2]"}]},
            ]
        }
    )
    assert body["contents"][1] == {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"output": [1, 2]}}}
    ]
