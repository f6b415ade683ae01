"""A bedrock-type provider behind ``brutor serve`` (the standard-library Converse mock, which verifies every
SigV4 signature with botocore and every body against botocore's service model), driven by the official
openai SDK: plain and streamed answers over the binary event stream, tools over two turns, usage,
exceptions before and during a stream, Bedrock API keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import openai
import pytest
from e2e_support import GatewayProcess, auth, make_client, sse_data
from mock_bedrock import (
    ACCESS_KEY,
    API_KEY,
    REGION,
    SECRET_KEY,
    TOOL_PREAMBLE,
    TOOL_USE_ID,
    MockBedrock,
)
from mock_openai import count_words, sample_from_schema, split_pieces

KEY = "sk-test-bedrock-e2e-3f9a"
SESSION_TOKEN = "FwoGZXIvYXdzEMockSessionToken//0123"
CHAT = "/v1/chat/completions"
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
WEATHER_ARGS = sample_from_schema(WEATHER["function"]["parameters"])
MODELS = {
    # Versioned ids carry a ':' that is percent-encoded in the (signed) path.
    "nova": ("signed", "us.amazon.nova-lite-v1:0"),
    "nova-key": ("apikey", "us.amazon.nova-lite-v1:0"),
    "nova-badsig": ("badsig", "us.amazon.nova-lite-v1:0"),
    "bedrock-throttled": ("signed", "mock.throttled-v1:0"),
    "bedrock-throttle-first": ("signed", "mock.throttle-first-v1:0"),
    "bedrock-exception-midstream": ("signed", "mock.exception-midstream-v1:0"),
    "bedrock-die-midstream": ("signed", "mock.die-midstream-v1:0"),
}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockBedrock]:
    m = MockBedrock(session_token=SESSION_TOKEN).start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock: MockBedrock) -> Iterator[GatewayProcess]:
    work = tmp_path_factory.mktemp("bedrock-gw")
    common = {"type": "bedrock", "region": REGION, "base_url": mock.base_url}
    signed = {"aws_access_key_id": ACCESS_KEY, "aws_session_token": SESSION_TOKEN}
    config = {
        "server": {"access_log": "off"},
        "keys": [{"id": "tester", "key": KEY, "tenant": "acme"}],
        "providers": [
            {"name": "signed", **common, **signed, "aws_secret_access_key": SECRET_KEY},
            {"name": "badsig", **common, **signed, "aws_secret_access_key": "not-the-secret"},
            {"name": "apikey", **common, "api_key": API_KEY},
        ],
        "models": [{"name": n, "provider": p, "upstream_model": u} for n, (p, u) in MODELS.items()],
    }
    gateway = GatewayProcess(work, config).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def client(gw: GatewayProcess, mock: MockBedrock) -> Iterator[openai.OpenAI]:
    mock.reset()
    c = make_client(gw, KEY)
    try:
        yield c
    finally:
        c.close()


def _messages(text: str) -> list[Any]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def test_chat_non_stream_signed(client: openai.OpenAI, mock: MockBedrock) -> None:
    r = client.chat.completions.create(model="nova", messages=_messages("hello there"), temperature=0.5)
    answer = "Mock reply to: hello there"
    assert r.choices[0].message.content == answer
    assert r.choices[0].finish_reason == "stop"
    assert r.id.startswith("chatcmpl-brutor-") and r.model == "nova"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (4, count_words(answer))
    (sent,) = mock.requests()
    assert sent["path"] == "/model/us.amazon.nova-lite-v1%3A0/converse"
    assert unquote(sent["path"].split("/")[2]) == "us.amazon.nova-lite-v1:0"
    assert sent["headers"]["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert sent["headers"]["x-amz-security-token"] == SESSION_TOKEN
    assert KEY not in json.dumps(sent["headers"])
    assert sent["body"] == {
        "messages": [{"role": "user", "content": [{"text": "hello there"}]}],
        "system": [{"text": "Be brief."}],
        "inferenceConfig": {"temperature": 0.5},
    }


def test_chat_stream_with_usage(client: openai.OpenAI, mock: MockBedrock) -> None:
    stream = client.chat.completions.create(
        model="nova",
        messages=_messages("stream me please"),
        stream=True,
        stream_options={"include_usage": True},
        max_completion_tokens=64,
    )
    with stream:
        chunks = list(stream)
    answer = "Mock reply to: stream me please"
    assert all(c.object == "chat.completion.chunk" and c.model == "nova" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == split_pieces(answer)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, count_words(answer))
    (sent,) = mock.requests()
    assert sent["path"].endswith("/converse-stream")
    assert sent["body"]["inferenceConfig"] == {"maxTokens": 64}


def test_tools_two_turns_stream(client: openai.OpenAI, mock: MockBedrock) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather in Oslo?"}]
    stream = client.chat.completions.create(model="nova", messages=messages, tools=[WEATHER], stream=True)
    with stream:
        chunks = list(stream)
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == TOOL_USE_ID and calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    args = "".join(tc.function.arguments or "" for tc in calls if tc.function is not None)
    assert json.loads(args) == WEATHER_ARGS
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TOOL_PREAMBLE
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert mock.requests()[0]["body"]["toolConfig"] == {
        "tools": [
            {"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER["function"]["parameters"]}}}
        ]
    }

    call = {"id": TOOL_USE_ID, "type": "function", "function": {"name": "get_weather", "arguments": args}}
    messages += [
        {"role": "assistant", "content": TOOL_PREAMBLE, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": TOOL_USE_ID, "content": "snow"},
        {"role": "user", "content": "and tomorrow?"},
    ]
    r = client.chat.completions.create(model="nova", messages=messages, tools=[WEATHER], tool_choice="auto")
    assert r.choices[0].message.content == "Tool said: snow"
    body = mock.requests()[1]["body"]
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"text": TOOL_PREAMBLE},
                {"toolUse": {"toolUseId": TOOL_USE_ID, "name": "get_weather", "input": WEATHER_ARGS}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": TOOL_USE_ID, "content": [{"text": "snow"}]}},
                {"text": "and tomorrow?"},
            ],
        },
    ]
    assert body["toolConfig"]["toolChoice"] == {"auto": {}}


def test_tools_non_stream(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(
        model="nova",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls is not None and msg.tool_calls[0].function.name == "get_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == WEATHER_ARGS


def test_bedrock_api_key(client: openai.OpenAI, mock: MockBedrock) -> None:
    r = client.chat.completions.create(model="nova-key", messages=_messages("by key"))
    assert r.choices[0].message.content == "Mock reply to: by key"
    assert mock.requests()[0]["headers"]["authorization"] == f"Bearer {API_KEY}"


def test_bad_signature_is_refused_upstream(gw: GatewayProcess) -> None:
    resp = gw.request("POST", CHAT, {"model": "nova-badsig", "messages": _messages("hi")}, auth(KEY))
    assert resp.status == 403
    err = resp.json()["error"]
    assert err["code"] == "InvalidSignatureException" and err["type"] == "permission_error"


def test_throttled_keeps_429(gw: GatewayProcess) -> None:
    resp = gw.request("POST", CHAT, {"model": "bedrock-throttled", "messages": _messages("hi")}, auth(KEY))
    assert resp.status == 429
    err = resp.json()["error"]
    assert (err["code"], err["type"]) == ("ThrottlingException", "rate_limit_error")


def test_exception_before_the_answer_is_a_429_reply(gw: GatewayProcess) -> None:
    payload = {"model": "bedrock-throttle-first", "messages": _messages("hi"), "stream": True}
    resp = gw.request("POST", CHAT, payload, auth(KEY))
    assert resp.status == 429, resp
    assert resp.json()["error"]["code"] == "ThrottlingException"


@pytest.mark.parametrize("model", ["bedrock-exception-midstream", "bedrock-die-midstream"])
def test_midstream_failure_ends_with_an_error_not_done(gw: GatewayProcess, model: str) -> None:
    payload = {"model": model, "messages": _messages("one two three four"), "stream": True}
    resp = gw.request("POST", CHAT, payload, auth(KEY))
    assert resp.status == 200
    events = sse_data(resp.body)
    assert "[DONE]" not in events
    content = [json.loads(e)["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert "".join(c for c in content if c) == "Mock reply to:"
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_stream_interrupted"
    if model == "bedrock-exception-midstream":
        assert "modelStreamErrorException: The model failed mid-answer" in error["message"]


def test_sdk_raises_on_a_broken_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="bedrock-exception-midstream", messages=_messages("one two three four"), stream=True
    )
    with pytest.raises(openai.APIError), stream:
        for _ in stream:
            pass


def test_http_image_url_is_a_400(client: openai.OpenAI, mock: MockBedrock) -> None:
    content: Any = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="nova", messages=[{"role": "user", "content": content}])
    assert mock.requests() == []
