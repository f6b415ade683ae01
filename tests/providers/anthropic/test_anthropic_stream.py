"""Golden tests of the native Anthropic stream translation and of the provider over HTTP.

``golden/stream_*.sse`` are Messages streams in the documented wire format (every event checked against
the anthropic SDK's ``RawMessageStreamEvent``); ``stream_*.jsonl`` the exact OpenAI chunks expected, one
per line, in the byte order written. The provider tests run ``AnthropicProvider`` against a recording
server (``mock_anthropic.Replay``) to check the exact upstream request and what reaches the client.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2 as httpx
import orjson
import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from mock_anthropic import API_KEY, Replay
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from brutor._native import AnthropicStreamTranslator, TranslateError
from brutor.config import ProviderConfig
from brutor.context import Call, RequestContext, Target
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers import translated
from brutor.providers.anthropic import AnthropicProvider
from brutor.providers.anthropic_translate import from_anthropic
from brutor.providers.base import Deployment

GOLDEN = Path(__file__).parent / "golden"
STREAMS = ["stream_text", "stream_tools", "stream_error"]
CREATED = 1700000000
EVENTS = pydantic.TypeAdapter(RawMessageStreamEvent)


def upstream(name: str) -> bytes:
    return (GOLDEN / f"{name}.sse").read_bytes()


def expected(name: str) -> bytes:
    lines = (GOLDEN / f"{name}.jsonl").read_text().splitlines()
    return b"".join(b"data: " + orjson.dumps(json.loads(line)) + b"\n\n" for line in lines)


def translator(include_usage: bool = True) -> AnthropicStreamTranslator:
    return AnthropicStreamTranslator("chatcmpl-brutor-req1", "claude", CREATED, include_usage=include_usage)


def translate(chunks: list[bytes], include_usage: bool = True) -> tuple[bytes, AnthropicStreamTranslator]:
    t = translator(include_usage)
    out = b"".join(t.feed(c) for c in chunks) + t.finish()
    return out, t


def chunks_of(out: bytes) -> list[dict[str, Any]]:
    return [json.loads(e.removeprefix(b"data: ")) for e in out.split(b"\n\n") if e]


@pytest.mark.parametrize("name", STREAMS)
def test_recorded_streams_are_valid_anthropic_events(name: str) -> None:
    for block in upstream(name).decode().split("\n\n"):
        if not block.strip():
            continue
        event, data = (line.split(": ", 1)[1] for line in block.splitlines())
        doc = json.loads(data)
        assert doc["type"] == event
        if event not in ("ping", "error"):  # the SDK skips pings and raises errors: neither is typed
            EVENTS.validate_python(doc)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_golden(name: str) -> None:
    out, t = translate([upstream(name)])
    assert out == expected(name)
    for chunk in chunks_of(out):
        ChatCompletionChunk.model_validate(chunk)
    if name == "stream_error":
        assert (t.error_type, t.error_message) == ("overloaded_error", "Overloaded")
        assert not t.done and not t.stopped
    else:
        assert t.done and t.stopped and t.error_type is None


@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
@settings(max_examples=150, deadline=None)
def test_any_split_gives_the_golden_output(cuts: list[int]) -> None:
    for name in STREAMS:
        data = upstream(name)
        points = sorted({c % (len(data) + 1) for c in cuts})
        pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
        assert translate(pieces)[0] == expected(name)


def test_usage_chunk_only_when_asked_but_usage_always_kept() -> None:
    out, t = translate([upstream("stream_tools")], include_usage=False)
    assert out == expected("stream_tools").rsplit(b"data: ", 1)[0]
    assert (t.prompt_tokens, t.completion_tokens, t.cached_tokens) == (600, 89, 128)
    assert t.stop_reason == "tool_use" and t.finish_reason == "tool_calls"
    assert t.tool_calls == 2


def test_input_types_and_failure() -> None:
    data = upstream("stream_text")
    for kind in (bytes, bytearray, memoryview):
        assert translate([kind(data)])[0] == expected("stream_text")  # type: ignore[arg-type]
    t = translator()
    with pytest.raises(TranslateError, match="not valid JSON"):
        t.feed(b"event: message_start\ndata: {nope}\n\n")
    with pytest.raises(TranslateError):
        t.feed(data)
    with pytest.raises(TypeError):
        translator().feed("text")  # type: ignore[arg-type]


def _anthropic_final_message(sse: bytes) -> Any:
    """The message the anthropic SDK's own stream accumulator builds from ``sse``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse)

    with httpx.Client(transport=httpx.MockTransport(answer)) as http:
        client = anthropic.Anthropic(
            api_key="k", base_url="http://anthropic.test", http_client=http, max_retries=0
        )
        params: Any = {
            "model": "claude-sonnet-4-6",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "x"}],
        }
        with client.messages.stream(**params) as stream:
            return stream.get_final_message()


@pytest.mark.parametrize("name", ["stream_text", "stream_tools"])
def test_stream_and_plain_answers_agree(name: str) -> None:
    """The openai SDK's accumulation of our chunks equals our translation of the anthropic SDK's
    accumulation of the upstream stream."""
    out, _ = translate([upstream(name)])
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for chunk in chunks_of(out):
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    streamed = state.get_final_completion()
    message = _anthropic_final_message(upstream(name)).model_dump()
    plain = from_anthropic(message, RequestContext("r", {}), fallback_id="x", created=CREATED, model="claude")
    got = streamed.choices[0]
    want = plain["choices"][0]
    assert got.message.content == want["message"]["content"]
    assert got.finish_reason == want["finish_reason"]
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in got.message.tool_calls or []]
    want_calls = [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in want["message"].get("tool_calls", [])
    ]
    assert calls == want_calls
    assert streamed.usage is not None and streamed.usage.model_dump(exclude_none=True) == {
        **plain["usage"],
        "prompt_tokens_details": {"cached_tokens": plain["usage"]["prompt_tokens_details"]["cached_tokens"]},
    }
    assert streamed.id == plain["id"]


def test_python_and_native_finish_reasons_agree() -> None:
    for reason in [
        "end_turn",
        "max_tokens",
        "stop_sequence",
        "tool_use",
        "pause_turn",
        "refusal",
        "model_context_window_exceeded",
        "guardrail_intervened",
        "content_filtered",
        "malformed_tool_use",
        "future_reason",
    ]:
        t = translator()
        event = {"type": "message_delta", "delta": {"stop_reason": reason}, "usage": {"output_tokens": 1}}
        t.feed(b"data: " + orjson.dumps(event) + b"\n\n")
        assert t.finish_reason == translated.finish_reason(reason), reason


# ------------------------------------------------------------------------------ the provider over HTTP


@pytest.fixture
def replay() -> Any:
    server = Replay().start()
    try:
        yield server
    finally:
        server.stop()


def run_chat(
    replay: Replay,
    payload: dict[str, Any],
    stream: bool,
    extra_headers: dict[str, str] | None = None,
    **cfg: Any,
) -> tuple[RequestContext, Reply | StreamReply, list[bytes]]:
    """One chat call against ``replay``; a stream is read to its end as the server would."""

    async def go() -> tuple[RequestContext, Reply | StreamReply, list[bytes]]:
        config = ProviderConfig(
            name="claude-up", type="anthropic", base_url=replay.base_url, api_key=API_KEY, **cfg
        )
        provider = AnthropicProvider(config, clock=lambda: CREATED)
        ctx = RequestContext("req1", {})
        ctx.call = Call(Target.LLM, "chat.completions", "claude", stream, payload)
        ctx.upstream_headers = extra_headers
        deployment = Deployment("claude", "chat", "claude-sonnet-4-6", provider)
        try:
            reply = await provider.chat(ctx, deployment, payload)
            got: list[bytes] = []
            if isinstance(reply, StreamReply):
                try:
                    async for chunk in reply.chunks:
                        got.append(chunk)
                        if reply.complete:
                            break
                finally:
                    await reply.aclose()
            return ctx, reply, got
        finally:
            await provider.aclose()

    return asyncio.run(go())


SSE = {"content-type": "text/event-stream"}
JSON = {"content-type": "application/json"}


def split_events(data: bytes) -> list[bytes]:
    """The stream as the network might deliver it: a few events per read, some cut in two."""
    events = [e + b"\n\n" for e in data.split(b"\n\n") if e]
    pieces: list[bytes] = []
    for i, e in enumerate(events):
        pieces.extend([e[:17], e[17:]] if i % 3 == 1 else [e])
    return pieces


def test_exact_upstream_request_and_plain_answer(replay: Replay) -> None:
    case = json.loads((GOLDEN / "request_tools.json").read_text())
    answer = json.loads((GOLDEN / "response_tool_use.json").read_text())
    replay.add(200, JSON, json.dumps(answer["anthropic"]).encode())
    ctx, reply, _ = run_chat(replay, case["openai"], False)
    (sent,) = replay.requests()
    assert sent["method"] == "POST" and sent["path"] == "/v1/messages"
    assert sent["raw_body"] == orjson.dumps(case["anthropic"])
    headers = sent["headers"]
    assert headers["x-api-key"] == API_KEY
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "req1"
    assert "authorization" not in headers
    assert isinstance(reply, Reply) and reply.status == 200
    got = orjson.loads(reply.body)
    assert got["choices"] == answer["openai"]["choices"]
    assert got["usage"] == answer["openai"]["usage"]
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens) == (472, 89)


def test_configured_version_and_headers_are_sent(replay: Replay) -> None:
    answer = json.loads((GOLDEN / "response_text.json").read_text())["anthropic"]
    replay.add(200, JSON, json.dumps(answer).encode())
    payload = {"model": "claude", "messages": [{"role": "user", "content": "x"}]}
    run_chat(
        replay,
        payload,
        False,
        {"x-route-header": "r1"},
        anthropic_version="2099-01-01",
        headers={"anthropic-beta": "b1"},
    )
    headers = replay.requests()[0]["headers"]
    assert headers["anthropic-version"] == "2099-01-01" and headers["anthropic-beta"] == "b1"
    assert headers["x-route-header"] == "r1"  # the route's transforms.headers


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_through_the_provider(replay: Replay, include_usage: bool) -> None:
    replay.add(200, SSE, *split_events(upstream("stream_tools")))
    payload: dict[str, Any] = {
        "model": "claude",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    }
    if include_usage:
        payload["stream_options"] = {"include_usage": True}
    ctx, reply, got = run_chat(replay, payload, True)
    assert isinstance(reply, StreamReply)
    assert reply.complete and reply.error is None
    want = expected("stream_tools")
    assert b"".join(got) == (want if include_usage else want.rsplit(b"data: ", 1)[0])
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens, ctx.usage.cached_tokens) == (600, 89, 128)
    assert ctx.ttft_ms is not None
    assert json.loads(replay.requests()[0]["raw_body"])["stream"] is True


def test_error_event_mid_stream_sets_the_error(replay: Replay) -> None:
    text = upstream("stream_text")
    cut = text.index(b"event: content_block_stop")
    error = b'event: error\ndata: {"type":"error","error":{"type":"api_error","message":"Internal."}}\n\n'
    replay.add(200, SSE, text[:cut], error, text[cut:])
    payload = {"model": "claude", "messages": [{"role": "user", "content": "x"}], "stream": True}
    ctx, reply, got = run_chat(replay, payload, True)
    assert isinstance(reply, StreamReply) and not reply.complete
    assert reply.error is not None and reply.error.code == "upstream_stream_interrupted"
    assert "api_error: Internal" in reply.error.message
    assert len(chunks_of(b"".join(got))) == 3
    assert ctx.usage.prompt_tokens == 25


def test_dropped_connection_mid_stream_sets_the_error(replay: Replay) -> None:
    text = upstream("stream_text")
    replay.add(200, SSE, text[: text.index(b"event: message_delta")], None)
    payload = {"model": "claude", "messages": [{"role": "user", "content": "x"}], "stream": True}
    ctx, reply, got = run_chat(replay, payload, True)
    assert b"".join(got) == b"".join(expected("stream_text").split(b"\n\n")[i] + b"\n\n" for i in range(3))
    assert isinstance(reply, StreamReply) and not reply.complete
    assert reply.error is not None and reply.error.code == "upstream_stream_interrupted"
    assert ctx.usage.completion_tokens > 0 and ctx.usage.estimated is False


def test_error_before_the_answer_is_an_error_reply(replay: Replay) -> None:
    start = upstream("stream_text").split(b"\n\n")[0] + b"\n\n"
    error = (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    replay.add(200, SSE, start, error)
    payload = {"model": "claude", "messages": [{"role": "user", "content": "x"}], "stream": True}
    ctx, reply, _ = run_chat(replay, payload, True)
    assert isinstance(reply, Reply) and reply.status == 529
    assert orjson.loads(reply.body)["error"] == {
        "message": "Overloaded",
        "type": "api_error",
        "param": None,
        "code": "overloaded_error",
    }
    assert ctx.error_code == "overloaded_error"


@pytest.mark.parametrize(
    ("status", "body", "headers", "want"),
    [
        (
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            {},
            ("api_error", "overloaded_error", "Overloaded"),
        ),
        (
            429,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "Slow down."}},
            {"retry-after": "12"},
            ("rate_limit_error", "rate_limit_error", "Slow down."),
        ),
        (
            400,
            {"type": "error", "error": {"type": "invalid_request_error", "message": "messages: bad"}},
            {},
            ("invalid_request_error", "invalid_request_error", "messages: bad"),
        ),
        (
            413,
            {"type": "error", "error": {"type": "request_too_large", "message": "Too big."}},
            {},
            ("invalid_request_error", "request_too_large", "Too big."),
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_upstream_errors_keep_status_and_retry_after(
    replay: Replay, status: int, body: Any, headers: dict[str, str], want: tuple[str, str, str], stream: bool
) -> None:
    replay.add(status, {**JSON, **headers}, json.dumps(body).encode())
    payload = {"model": "claude", "messages": [{"role": "user", "content": "x"}], "stream": stream}
    ctx, reply, _ = run_chat(replay, payload, stream)
    assert isinstance(reply, Reply) and reply.status == status
    error = orjson.loads(reply.body)["error"]
    assert (error["type"], error["code"], error["message"]) == want
    assert (
        ("retry-after", "12") in reply.headers
        if headers
        else all(h[0] != "retry-after" for h in reply.headers)
    )
    assert ctx.error_code == want[1]


def test_non_json_error_is_wrapped(replay: Replay) -> None:
    replay.add(502, {"content-type": "text/html"}, b"<html>bad gateway</html>")
    payload = {"model": "claude", "messages": [{"role": "user", "content": "x"}]}
    _, reply, _ = run_chat(replay, payload, False)
    assert isinstance(reply, Reply) and reply.status == 502
    error = orjson.loads(reply.body)["error"]
    assert error["code"] == "upstream_502" and "<html>bad gateway</html>" in error["message"]
