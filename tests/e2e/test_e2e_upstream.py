"""An openai-type upstream (the standard-library mock) behind the gateway.

Asserts both what the client sees (through the official SDK and raw HTTP) and what the gateway forwarded
upstream (through the mock's request log).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import openai
import pytest
from e2e_support import (
    SLOW_FIRST_BYTE_TIMEOUT,
    TEAM_A_KEY,
    TEAM_B_KEY,
    assert_openai_error,
    auth,
    json_lines,
    make_async_client,
    sse_request,
)
from mock_openai import (
    DEFAULT_API_KEY as UPSTREAM_KEY,
)
from mock_openai import (
    RETRY_AFTER_SECONDS,
    MockOpenAI,
    chat_reply,
    count_words,
    mock_embedding,
    prompt_token_count,
    sample_from_schema,
    split_pieces,
)
from pydantic import BaseModel

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer"},
            },
            "required": ["city", "unit", "days"],
            "additionalProperties": False,
        },
    },
}
WEATHER_ARGS = {"city": "mock", "unit": "celsius", "days": 1}


def _one_forwarded(mock: MockOpenAI, marker: str) -> dict[str, Any]:
    """The single upstream request whose body contains ``marker``."""
    found = [r for r in mock.requests() if marker in r["raw_body"]]
    assert len(found) == 1, f"expected one upstream request containing {marker!r}, got {len(found)}"
    return found[0]


def _new_stream(mock: MockOpenAI, after_id: int) -> dict[str, Any]:
    """The one upstream stream the mock opened after stream ``after_id``."""
    recs = [s for s in mock.streams() if s["id"] > after_id]
    assert len(recs) == 1, recs
    return recs[0]


def _messages(text: str) -> list[Any]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


# ------------------------------------------------------------------------------------ basic chat


def test_chat_non_stream_via_upstream(client: openai.OpenAI, mock: MockOpenAI) -> None:
    msgs = _messages("upstream non stream 1")
    r = client.chat.completions.create(model="gpt-4o-mini", messages=msgs)
    assert r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == chat_reply(msgs)
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.prompt_tokens == prompt_token_count(msgs)
    assert r.usage.completion_tokens == count_words(chat_reply(msgs))


def test_forwarded_request_rewrites_model_and_credentials(client: openai.OpenAI, mock: MockOpenAI) -> None:
    marker = "forwarding-check-2b7"
    client.chat.completions.create(model="gpt-4o-mini", messages=_messages(marker))
    fwd = _one_forwarded(mock, marker)
    assert fwd["method"] == "POST"
    assert fwd["path"] == "/v1/chat/completions"
    assert fwd["body"]["model"] == "mock-gpt"
    headers = fwd["headers"]
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert headers.get("x-extra-header") == "1", "provider headers must be sent upstream"
    for name, value in fwd["raw_headers"]:
        assert TEAM_B_KEY not in value, f"client key forwarded upstream in header {name}"
    assert TEAM_B_KEY not in fwd["raw_body"]


def test_api_key_header_auth_not_forwarded(gateway: Any, mock: MockOpenAI) -> None:
    marker = "api-key-header-3c8"
    resp = gateway.request(
        "POST",
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": _messages(marker)},
        {"api-key": TEAM_A_KEY},
    )
    assert resp.status == 200, resp
    fwd = _one_forwarded(mock, marker)
    assert fwd["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "api-key" not in fwd["headers"]
    assert all(TEAM_A_KEY not in v for _, v in fwd["raw_headers"])


def test_non_stream_body_forwarded_unchanged(gateway: Any, mock: MockOpenAI) -> None:
    """Every field, known or unknown, reaches the upstream unchanged; only ``model`` is rewritten."""
    marker = "unchanged-body-4d9"
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": marker}]},
        ],
        "temperature": 0.25,
        "top_p": 0.9,
        "seed": 42,
        "max_tokens": 50,
        "n": 1,
        "stop": ["\n\n"],
        "user": "end-user-7",
        "metadata": {"k": "v"},
        "logit_bias": {"50256": -100},
        "x_vendor_extension": {"nested": [1, 2.5, None, True, "s"]},
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
    }
    resp = gateway.request("POST", "/v1/chat/completions", body, auth(TEAM_B_KEY))
    assert resp.status == 200, resp
    fwd = _one_forwarded(mock, marker)["body"]
    assert fwd == {**body, "model": "mock-gpt"}


# ------------------------------------------------------------------------------------ streams


def test_chat_stream_via_upstream_no_usage_requested(client: openai.OpenAI, mock: MockOpenAI) -> None:
    marker = "stream-no-usage-5e1"
    msgs = _messages(marker)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True)
    with stream:
        chunks = list(stream)
    assert all(c.choices for c in chunks), "usage-only chunk forwarded although the client did not ask"
    assert all(c.usage is None for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert pieces == split_pieces(chat_reply(msgs))
    assert chunks[-1].choices[0].finish_reason == "stop"
    # ... but the gateway asked upstream for usage (for its own accounting).
    fwd = _one_forwarded(mock, marker)["body"]
    assert fwd["stream"] is True
    assert fwd["model"] == "mock-gpt"
    assert isinstance(fwd.get("stream_options"), dict) and fwd["stream_options"].get("include_usage") is True


def test_chat_stream_via_upstream_with_usage(client: openai.OpenAI, mock: MockOpenAI) -> None:
    marker = "stream-with-usage-6f2"
    msgs = _messages(marker)
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=msgs, stream=True, stream_options={"include_usage": True}
    )
    with stream:
        chunks = list(stream)
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == 1 and usage_chunks[0] is chunks[-1]
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens == prompt_token_count(msgs)
    assert usage.completion_tokens == count_words(chat_reply(msgs))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == chat_reply(msgs)
    fwd = _one_forwarded(mock, marker)["body"]
    assert fwd["stream_options"] == {"include_usage": True}


def test_stream_raw_ends_with_done(gateway: Any, mock: MockOpenAI) -> None:
    marker = "raw-stream-7a3"
    resp, events = sse_request(
        gateway.port, {"model": "gpt-4o-mini", "messages": _messages(marker), "stream": True}, TEAM_B_KEY
    )
    assert resp.status == 200, resp
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.complete
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    objs = [json.loads(e) for e in events[:-1]]
    assert all(o["choices"] for o in objs), "usage-only chunk leaked to a client that did not ask for it"
    assert all(o["object"] == "chat.completion.chunk" for o in objs)


def test_upstream_without_usage_still_streams(client: openai.OpenAI, gateway: Any, mock: MockOpenAI) -> None:
    msgs = _messages("no usage upstream 8b4")
    stream = client.chat.completions.create(
        model="no-usage", messages=msgs, stream=True, stream_options={"include_usage": True}
    )
    with stream:
        chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == chat_reply(msgs)
    assert [c for c in chunks if c.choices][-1].choices[0].finish_reason == "stop"

    resp, events = sse_request(
        gateway.port, {"model": "no-usage", "messages": msgs, "stream": True}, TEAM_B_KEY
    )
    assert resp.status == 200
    assert events[-1] == "[DONE]"
    assert not any('"error"' in e for e in events)


def test_async_stream_via_upstream(gateway: Any, mock: MockOpenAI) -> None:
    msgs = _messages("async upstream stream 9c5")

    async def main() -> str:
        async with make_async_client(gateway) as ac:
            stream = await ac.chat.completions.create(model="gpt-4o-mini", messages=msgs, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(main()) == chat_reply(msgs)


# ------------------------------------------------------------------------------------ tools & formats


def test_tools_non_stream(client: openai.OpenAI, mock: MockOpenAI) -> None:
    marker = "tools-non-stream-0d6"
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=_messages(marker), tools=[WEATHER_TOOL], tool_choice="auto"
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.id == "call_mock_0001"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    fwd = _one_forwarded(mock, marker)["body"]
    assert fwd["tools"] == [WEATHER_TOOL]
    assert fwd["tool_choice"] == "auto"


def test_tools_stream_parsed_by_sdk(client: openai.OpenAI, mock: MockOpenAI) -> None:
    marker = "tools-stream-1e7"
    choice = {"type": "function", "function": {"name": "get_weather"}}
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=_messages(marker), tools=[WEATHER_TOOL], tool_choice=choice
    ) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    assert any(e.type == "tool_calls.function.arguments.done" for e in events)
    msg = final.choices[0].message
    assert final.choices[0].finish_reason == "tool_calls"
    assert msg.tool_calls is not None and len(msg.tool_calls) == 1
    assert msg.tool_calls[0].function.name == "get_weather"
    assert json.loads(msg.tool_calls[0].function.arguments) == WEATHER_ARGS
    fwd = _one_forwarded(mock, marker)["body"]
    assert fwd["tools"] == [WEATHER_TOOL]
    assert fwd["tool_choice"] == choice
    assert fwd["stream"] is True


def test_tool_result_round_trip_forwarded(client: openai.OpenAI, mock: MockOpenAI) -> None:
    """Assistant tool_calls and tool messages in the history reach the upstream verbatim."""
    marker = "tool-history-2f8"
    history: list[Any] = [
        {"role": "user", "content": marker},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": json.dumps(WEATHER_ARGS)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
    ]
    r = client.chat.completions.create(model="gpt-4o-mini", messages=history)
    assert r.choices[0].message.content == chat_reply(history)
    assert _one_forwarded(mock, marker)["body"]["messages"] == history


def test_response_format_json_schema(client: openai.OpenAI, mock: MockOpenAI) -> None:
    marker = "json-schema-3a9"
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temperature": {"type": "integer"}},
        "required": ["city", "temperature"],
        "additionalProperties": False,
    }
    rf: Any = {"type": "json_schema", "json_schema": {"name": "weather", "schema": schema, "strict": True}}
    r = client.chat.completions.create(model="gpt-4o-mini", messages=_messages(marker), response_format=rf)
    assert json.loads(r.choices[0].message.content or "") == sample_from_schema(schema)
    assert _one_forwarded(mock, marker)["body"]["response_format"] == rf


def test_response_format_parse_helper(client: openai.OpenAI, mock: MockOpenAI) -> None:
    class Weather(BaseModel):
        city: str
        temperature: int

    marker = "parse-helper-4b0"
    r = client.chat.completions.parse(
        model="gpt-4o-mini", messages=_messages(marker), response_format=Weather
    )
    parsed = r.choices[0].message.parsed
    assert parsed == Weather(city="mock", temperature=1)
    fwd = _one_forwarded(mock, marker)["body"]
    assert fwd["response_format"]["type"] == "json_schema"
    assert fwd["response_format"]["json_schema"]["name"] == "Weather"


# ------------------------------------------------------------------------------------ embeddings


def test_embeddings_via_upstream(client: openai.OpenAI, mock: MockOpenAI) -> None:
    inputs = ["embed upstream 5c1", "second input"]
    r = client.embeddings.create(model="text-embedding-3-small", input=inputs)  # SDK asks for base64
    assert [d.embedding for d in r.data] == [mock_embedding(t) for t in inputs]
    assert [d.index for d in r.data] == [0, 1]
    assert r.usage.prompt_tokens == sum(count_words(t) for t in inputs)
    fwd = _one_forwarded(mock, "embed upstream 5c1")
    assert fwd["path"] == "/v1/embeddings"
    assert fwd["body"]["model"] == "mock-embed"
    assert fwd["body"]["input"] == inputs
    assert fwd["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_embeddings_via_upstream_float_and_dimensions(client: openai.OpenAI, mock: MockOpenAI) -> None:
    r = client.embeddings.create(
        model="text-embedding-3-small", input="float dims 6d2", encoding_format="float", dimensions=5
    )
    assert r.data[0].embedding == mock_embedding("float dims 6d2", 5)
    body = _one_forwarded(mock, "float dims 6d2")["body"]
    assert body == {
        "model": "mock-embed",
        "input": "float dims 6d2",
        "encoding_format": "float",
        "dimensions": 5,
    }


def test_embeddings_async(gateway: Any, mock: MockOpenAI) -> None:
    async def main() -> list[float]:
        async with make_async_client(gateway) as ac:
            r = await ac.embeddings.create(model="text-embedding-3-small", input="async embed 7e3")
            return r.data[0].embedding

    assert asyncio.run(main()) == mock_embedding("async embed 7e3")


# ------------------------------------------------------------------------------------ upstream errors


def test_upstream_429_passed_through(client: openai.OpenAI, gateway: Any) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="rate-limited", messages=_messages("rl"))
    err = exc.value
    assert err.status_code == 429
    assert err.response.headers.get("retry-after") == RETRY_AFTER_SECONDS
    assert isinstance(err.body, dict)
    assert err.body["code"] == "rate_limit_exceeded"
    assert err.body["type"] == "requests"
    assert err.body["message"].startswith("Rate limit reached for mock-429")
    # raw: body passed through as-is
    resp = gateway.request(
        "POST",
        "/v1/chat/completions",
        {"model": "rate-limited", "messages": _messages("rl")},
        auth(TEAM_B_KEY),
    )
    e = assert_openai_error(resp, 429, "rate_limit_exceeded", "requests")
    assert e["param"] is None
    assert resp.headers.get("retry-after") == RETRY_AFTER_SECONDS


def test_upstream_429_on_stream_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="rate-limited", messages=_messages("rl"), stream=True)
    assert exc.value.response.headers.get("retry-after") == RETRY_AFTER_SECONDS


def test_upstream_500_passed_through(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as exc:
        client.chat.completions.create(model="broken", messages=_messages("boom"))
    assert exc.value.status_code == 500
    assert isinstance(exc.value.body, dict)
    assert exc.value.body["type"] == "server_error"
    assert exc.value.body["message"].startswith("The server had an error")


def test_upstream_unreachable_502(client: openai.OpenAI, gateway: Any) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="unreachable", messages=_messages("down"))
    assert exc.value.status_code == 502
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "upstream_unreachable"
    assert time.monotonic() - started < 5
    resp = gateway.request(
        "POST",
        "/v1/chat/completions",
        {"model": "unreachable", "messages": _messages("down"), "stream": True},
        auth(TEAM_B_KEY),
    )
    assert_openai_error(resp, 502, "upstream_unreachable")


def test_first_byte_timeout_504(client: openai.OpenAI, mock: MockOpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="slow-first-byte", messages=_messages("slow"))
    elapsed = time.monotonic() - started
    assert exc.value.status_code == 504
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "upstream_timeout"
    assert SLOW_FIRST_BYTE_TIMEOUT * 0.9 <= elapsed < mock.server.slow_first_byte, elapsed


def test_first_byte_timeout_504_stream(client: openai.OpenAI, mock: MockOpenAI) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as exc:
        client.chat.completions.create(model="slow-first-byte", messages=_messages("slow"), stream=True)
    assert exc.value.status_code == 504
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "upstream_timeout"
    assert time.monotonic() - started < mock.server.slow_first_byte


# ------------------------------------------------------------------------------------ mid-stream failures


def test_midstream_death_sdk_raises_api_error(client: openai.OpenAI) -> None:
    msgs = _messages("one two three four five six")
    stream = client.chat.completions.create(model="die-midstream", messages=msgs, stream=True)
    received: list[str] = []
    with stream, pytest.raises(openai.APIError) as exc:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    # A proper in-band error event, not a dropped connection.
    assert not isinstance(exc.value, openai.APIConnectionError), repr(exc.value)
    assert isinstance(exc.value.body, dict) and exc.value.body.get("code") == "upstream_stream_interrupted"
    assert received == split_pieces(chat_reply(msgs))[:3]


def test_midstream_death_raw_no_done(gateway: Any) -> None:
    msgs = _messages("one two three four five six")
    resp, events = sse_request(
        gateway.port, {"model": "die-midstream", "messages": msgs, "stream": True}, TEAM_B_KEY
    )
    assert resp.status == 200
    assert "[DONE]" not in events
    assert events, resp
    last = json.loads(events[-1])
    assert last["error"]["code"] == "upstream_stream_interrupted"
    assert isinstance(last["error"]["message"], str) and last["error"]["message"]
    content = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert content == "".join(split_pieces(chat_reply(msgs))[:3])
    assert "traceback" not in resp.text.lower()


def test_client_disconnect_closes_upstream_raw(gateway: Any, mock: MockOpenAI) -> None:
    body = json.dumps(
        {"model": "slow-stream", "messages": _messages("disconnect raw 8f4"), "stream": True}
    ).encode()
    req = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
        f"Authorization: Bearer {TEAM_B_KEY}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    last_id = max((s["id"] for s in mock.streams()), default=0)
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    started = time.monotonic()
    try:
        sock.sendall(req)
        received = b""
        while received.count(b"tick") < 3:
            data = sock.recv(65536)
            assert data, f"gateway closed the stream early: {received!r}"
            received += data
        # Streaming, not buffering: 3 ticks arrive long before the 20 s upstream stream would end.
        assert time.monotonic() - started < 5
        rec = _new_stream(mock, last_id)
        assert rec["open"], rec
    finally:
        sock.close()
    closed_at = time.monotonic()
    assert mock.wait_for(lambda: not _new_stream(mock, last_id)["open"], 2.0), mock.streams()
    rec = _new_stream(mock, last_id)
    assert rec["ended"] == "client_closed"
    assert rec["closed_at"] - closed_at < 2.0
    assert rec["chunks_sent"] < 30


def test_client_disconnect_closes_upstream_sdk(gateway: Any, mock: MockOpenAI) -> None:
    last_id = max((s["id"] for s in mock.streams()), default=0)

    async def main() -> None:
        async with make_async_client(gateway) as ac:
            stream = await ac.chat.completions.create(
                model="slow-stream", messages=_messages("disconnect sdk 9a5"), stream=True
            )
            got = 0
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    got += 1
                if got == 2:
                    break
            await stream.close()

    asyncio.run(main())
    closed_at = time.monotonic()
    assert mock.wait_for(lambda: not _new_stream(mock, last_id)["open"], 2.0), mock.streams()
    rec = _new_stream(mock, last_id)
    assert rec["ended"] == "client_closed"
    assert rec["closed_at"] - closed_at < 2.0


def test_client_disconnect_cancels_a_non_stream_call(gateway: Any, mock: MockOpenAI) -> None:
    """A client that gives up on a slow non-stream answer gets the upstream call dropped, not run out."""
    body = json.dumps({"model": "slow-patient", "messages": _messages("abandoned 7c1")}).encode()
    req = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n"
        f"Authorization: Bearer {TEAM_B_KEY}\r\nContent-Type: application/json\r\n"
        f"X-Request-ID: abandon-7c1\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    try:
        sock.sendall(req)
        time.sleep(0.4)
    finally:
        sock.close()
    deadline = time.monotonic() + 2.0
    line: dict[str, Any] | None = None
    while time.monotonic() < deadline and line is None:
        line = next(
            (x for x in json_lines(gateway.access_log()) if x.get("client_request_id") == "abandon-7c1"), None
        )
        time.sleep(0.05)
    # The upstream would answer only after mock.server.slow_first_byte (3 s): a record well before that
    # shows the gateway stopped waiting as soon as the client left.
    assert line is not None, "no access-log record within 2 s of the client leaving"
    assert line["error_code"] == "client_disconnected"
    assert line["duration_ms"] < mock.server.slow_first_byte * 1000 * 0.8
