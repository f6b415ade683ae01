"""An anthropic-type provider behind ``brutor serve`` (the standard-library Messages mock), driven by the
official openai SDK: plain and streamed answers, tools over two turns, usage, errors before and during a
stream. The mock checks every request against the anthropic SDK's own parameter types."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from e2e_support import GatewayProcess, auth, json_lines, make_client, sse_data, wait_until
from mock_anthropic import (
    ANTHROPIC_VERSION,
    API_KEY,
    RETRY_AFTER_SECONDS,
    TOOL_PREAMBLE,
    TOOL_USE_ID,
    MockAnthropic,
)
from mock_openai import count_words, sample_from_schema, split_pieces

KEY = "sk-test-anthropic-e2e-7c1d"
CHAT = "/v1/chat/completions"
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
WEATHER_ARGS = sample_from_schema(WEATHER["function"]["parameters"])
MODELS = {
    "claude": "claude-mock",
    "claude-overloaded": "claude-overloaded",
    "claude-rate-limited": "claude-rate-limited",
    "claude-error-first": "claude-error-first",
    "claude-error-midstream": "claude-error-midstream",
    "claude-die-midstream": "claude-die-midstream",
}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockAnthropic]:
    m = MockAnthropic().start()
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock: MockAnthropic) -> Iterator[GatewayProcess]:
    work = tmp_path_factory.mktemp("anthropic-gw")
    config = {
        "server": {"access_log": str(work / "access.jsonl")},
        "keys": [{"id": "tester", "key": KEY, "tenant": "acme"}],
        "providers": [
            {
                "name": "claude-up",
                "type": "anthropic",
                "base_url": mock.base_url,
                "api_key": API_KEY,
                "timeouts": {"connect": 2, "first_byte": 10, "idle": 10, "total": 30},
            }
        ],
        "models": [{"name": n, "provider": "claude-up", "upstream_model": u} for n, u in MODELS.items()],
    }
    gateway = GatewayProcess(work, config).start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def client(gw: GatewayProcess, mock: MockAnthropic) -> Iterator[openai.OpenAI]:
    mock.reset()
    c = make_client(gw, KEY)
    try:
        yield c
    finally:
        c.close()


def _messages(text: str) -> list[Any]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def _last_request(mock: MockAnthropic) -> dict[str, Any]:
    reqs = mock.requests()
    assert len(reqs) == 1, reqs
    return reqs[0]


def test_chat_non_stream(client: openai.OpenAI, mock: MockAnthropic) -> None:
    r = client.chat.completions.create(model="claude", messages=_messages("hello there"))
    answer = "Mock reply to: hello there"
    assert r.object == "chat.completion"
    assert r.id.startswith("msg_mock")
    assert r.model == "claude"
    assert r.choices[0].message.content == answer
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (2 + 2, count_words(answer))
    sent = _last_request(mock)
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == API_KEY
    assert sent["headers"]["anthropic-version"] == ANTHROPIC_VERSION
    assert KEY not in json.dumps(sent["headers"])
    assert sent["body"] == {
        "model": "claude-mock",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "hello there"}],
        "system": "Be brief.",
    }


def test_chat_stream_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="claude",
        messages=_messages("stream me please"),
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=50,
    )
    with stream:
        chunks = list(stream)
    answer = "Mock reply to: stream me please"
    assert all(c.object == "chat.completion.chunk" and c.model == "claude" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("msg_mock")
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces == split_pieces(answer)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (5, count_words(answer))


def test_stream_without_include_usage_still_accounts(gw: GatewayProcess, mock: MockAnthropic) -> None:
    mock.reset()
    marker = "accounting-check-5e1"
    payload = {"model": "claude", "messages": _messages(marker), "stream": True}
    resp = gw.request("POST", CHAT, payload, auth(KEY))
    assert resp.status == 200, resp
    events = sse_data(resp.body)
    assert events[-1] == "[DONE]"
    assert all("usage" not in json.loads(e) for e in events[:-1])
    rid = resp.headers["x-request-id"]

    def logged() -> list[dict[str, Any]]:
        lines = json_lines((gw.workdir / "access.jsonl").read_text())
        return [r for r in lines if r.get("request_id") == rid]

    record = wait_until(logged)
    assert record, "no access-log record for the request"
    assert record[0].get("prompt_tokens") == 3, record
    assert record[0].get("completion_tokens") == count_words(f"Mock reply to: {marker}"), record


def test_tools_two_turns_non_stream(client: openai.OpenAI, mock: MockAnthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "weather in Paris?"}]
    r = client.chat.completions.create(
        model="claude", messages=messages, tools=[WEATHER], tool_choice="required"
    )
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.content == TOOL_PREAMBLE
    assert msg.tool_calls is not None and len(msg.tool_calls) == 1
    call = msg.tool_calls[0]
    assert call.id == TOOL_USE_ID and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    first = mock.requests()[0]["body"]
    assert first["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city",
            "input_schema": WEATHER["function"]["parameters"],
        }
    ]
    assert first["tool_choice"] == {"type": "any"}

    messages += [
        msg.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
    ]
    r2 = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
    assert r2.choices[0].message.content == "Tool said: sunny, 21C"
    assert r2.choices[0].finish_reason == "stop"
    second = mock.requests()[1]["body"]["messages"]
    assert second[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": TOOL_PREAMBLE},
            {"type": "tool_use", "id": TOOL_USE_ID, "name": "get_weather", "input": WEATHER_ARGS},
        ],
    }
    assert second[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": TOOL_USE_ID, "content": "sunny, 21C"}],
    }


def test_tools_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "weather?"}], tools=[WEATHER], stream=True
    )
    with stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TOOL_PREAMBLE
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == TOOL_USE_ID and calls[0].function is not None
    assert calls[0].function.name == "get_weather"
    assert {tc.index for tc in calls} == {0}
    args = "".join(tc.function.arguments or "" for tc in calls if tc.function is not None)
    assert json.loads(args) == WEATHER_ARGS
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_image_data_url_becomes_base64_source(client: openai.OpenAI, mock: MockAnthropic) -> None:
    content: Any = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    r = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content == "Mock reply to: what is this"
    assert _last_request(mock)["body"]["messages"][0]["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
    }


def test_overloaded_keeps_529(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="claude-overloaded", messages=_messages("hi"))
    assert info.value.status_code == 529
    body: Any = info.value.body
    assert body["code"] == "overloaded_error" and body["message"] == "Overloaded"


def test_rate_limited_keeps_429_and_retry_after(gw: GatewayProcess) -> None:
    resp = gw.request("POST", CHAT, {"model": "claude-rate-limited", "messages": _messages("hi")}, auth(KEY))
    assert resp.status == 429
    assert resp.headers.get("retry-after") == RETRY_AFTER_SECONDS
    err = resp.json()["error"]
    assert (err["type"], err["code"]) == ("rate_limit_error", "rate_limit_error")


def test_error_event_before_the_answer_is_a_529_reply(gw: GatewayProcess) -> None:
    payload = {"model": "claude-error-first", "messages": _messages("hi"), "stream": True}
    resp = gw.request("POST", CHAT, payload, auth(KEY))
    assert resp.status == 529, resp
    assert resp.json()["error"]["code"] == "overloaded_error"


@pytest.mark.parametrize("model", ["claude-error-midstream", "claude-die-midstream"])
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
    if model == "claude-error-midstream":
        assert "overloaded_error: Overloaded" in error["message"]


def test_sdk_raises_on_a_broken_stream(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="claude-die-midstream", messages=_messages("one two three four"), stream=True
    )
    with pytest.raises(openai.APIError), stream:
        for _ in stream:
            pass


def test_unsupported_parameter_is_a_400(client: openai.OpenAI, mock: MockAnthropic) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="claude", messages=_messages("hi"), n=2)
    body: Any = info.value.body
    assert body["param"] == "n"
    assert mock.requests() == []


def test_embeddings_are_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="claude", input="hi")
