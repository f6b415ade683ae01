"""The native AWS event-stream decoder and Bedrock stream translation, and the provider over HTTP.

``golden/stream_*.json`` describe ConverseStream answers message by message (event type or exception
and payload); they are framed with ``mock_bedrock.frame`` (``struct`` + ``zlib.crc32``) and the framing is
checked against botocore's own event-stream parser. ``stream_*.jsonl`` are the exact OpenAI chunks.
"""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st
from mock_anthropic import Replay
from mock_bedrock import ACCESS_KEY, REGION, SECRET_KEY, frame, verify_signature
from openai.types.chat import ChatCompletionChunk

from brutor._native import BedrockStreamTranslator, EventStreamDecoder, EventStreamError, TranslateError
from brutor.config import ProviderConfig
from brutor.context import Call, RequestContext, Target
from brutor.errors import GatewayError
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers import translated
from brutor.providers.base import Deployment
from brutor.providers.bedrock import BedrockProvider

GOLDEN = Path(__file__).parent / "golden"
STREAMS = ["stream_text", "stream_tools", "stream_exception"]
CLOCK = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # 1700000000
EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream"}
JSON = {"content-type": "application/json"}


def messages(name: str) -> list[bytes]:
    out = []
    for m in json.loads((GOLDEN / f"{name}.json").read_text())["messages"]:
        payload = json.dumps(m["payload"], ensure_ascii=False).encode()
        if "exception" in m:
            headers = {
                ":exception-type": m["exception"],
                ":content-type": "application/json",
                ":message-type": "exception",
            }
        else:
            headers = {
                ":event-type": m["event"],
                ":content-type": "application/json",
                ":message-type": "event",
            }
        out.append(frame(headers, payload))
    return out


def upstream(name: str) -> bytes:
    return b"".join(messages(name))


def expected(name: str) -> bytes:
    lines = (GOLDEN / f"{name}.jsonl").read_text().splitlines()
    return b"".join(b"data: " + orjson.dumps(json.loads(line)) + b"\n\n" for line in lines)


def translate(chunks: list[bytes], include_usage: bool = True) -> tuple[bytes, BedrockStreamTranslator]:
    t = BedrockStreamTranslator("chatcmpl-brutor-req1", "nova", 1700000000, include_usage=include_usage)
    return b"".join(t.feed(c) for c in chunks) + t.finish(), t


# ------------------------------------------------------------------------------ event-stream framing


def botocore_messages(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(dict(m.headers), m.payload) for m in buffer]


def native_messages(chunks: list[bytes]) -> list[tuple[dict[str, Any], bytes]]:
    decoder = EventStreamDecoder()
    out = [(m.headers, m.payload) for c in chunks for m in decoder.feed(c)]
    assert decoder.finish() == 0
    return out


@pytest.mark.parametrize("name", STREAMS)
def test_native_decoder_agrees_with_botocore_on_the_recorded_streams(name: str) -> None:
    data = upstream(name)
    want = botocore_messages(data)
    assert len(want) == len(messages(name))
    assert native_messages([data]) == want
    assert native_messages([data[i : i + 1] for i in range(len(data))]) == want


header_values = st.one_of(
    st.booleans(), st.integers(-(2**31), 2**31 - 1), st.text(max_size=40), st.binary(max_size=40)
)


def encode_any(headers: dict[str, Any], payload: bytes) -> bytes:
    """Event-stream framing with bool, int32, string and bytes headers (written from the format)."""
    raw = b""
    for name, value in headers.items():
        raw += bytes([len(name.encode())]) + name.encode()
        if isinstance(value, bool):
            raw += b"\x00" if value else b"\x01"
        elif isinstance(value, int):
            raw += b"\x04" + struct.pack(">i", value)
        elif isinstance(value, str):
            raw += b"\x07" + struct.pack(">H", len(value.encode())) + value.encode()
        else:
            raw += b"\x06" + struct.pack(">H", len(value)) + value
    prelude = struct.pack(">II", 16 + len(raw) + len(payload), len(raw))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw + payload
    return message + struct.pack(">I", zlib.crc32(message))


@given(
    stream=st.lists(
        st.tuples(
            st.dictionaries(st.text(min_size=1, max_size=20), header_values, max_size=4),
            st.binary(max_size=300),
        ),
        max_size=6,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=8),
)
@settings(max_examples=200, deadline=None)
def test_any_messages_any_split_match_botocore(
    stream: list[tuple[dict[str, Any], bytes]], cuts: list[int]
) -> None:
    data = b"".join(encode_any(h, p) for h, p in stream)
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert native_messages(pieces) == botocore_messages(data)


@given(data=st.binary(max_size=400), cut=st.integers(min_value=0, max_value=400))
@settings(max_examples=300, deadline=None)
def test_garbage_never_crashes_and_failure_is_sticky(data: bytes, cut: int) -> None:
    decoder = EventStreamDecoder(max_message_bytes=256)
    try:
        decoder.feed(data[:cut])
        decoder.feed(data[cut:])
    except EventStreamError:
        assert decoder.buffered == 0
        with pytest.raises(EventStreamError):
            decoder.feed(upstream("stream_text"))


def test_corruption_is_refused() -> None:
    data = bytearray(upstream("stream_text"))
    data[30] ^= 0x01
    with pytest.raises(EventStreamError, match="CRC"):
        EventStreamDecoder().feed(data)
    with pytest.raises(EventStreamError, match="max_message_bytes"):
        EventStreamDecoder(max_message_bytes=64).feed(upstream("stream_text"))


# ------------------------------------------------------------------------------ translation


@pytest.mark.parametrize("name", STREAMS)
def test_stream_golden(name: str) -> None:
    out, t = translate([upstream(name)])
    assert out == expected(name)
    for chunk in out.split(b"\n\n")[:-1]:
        ChatCompletionChunk.model_validate_json(chunk.removeprefix(b"data: "))
    if name == "stream_exception":
        assert (t.error_type, t.error_message) == ("modelStreamErrorException", "Model stream error.")
        assert not t.stopped
    else:
        assert t.done and t.stopped and t.error_type is None


@given(cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12))
@settings(max_examples=150, deadline=None)
def test_any_split_gives_the_golden_output(cuts: list[int]) -> None:
    for name in STREAMS:
        data = upstream(name)
        points = sorted({c % (len(data) + 1) for c in cuts})
        pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
        assert translate(pieces)[0] == expected(name)


def test_usage_is_kept_without_the_usage_chunk() -> None:
    out, t = translate([upstream("stream_text")], include_usage=False)
    assert out == expected("stream_text").rsplit(b"data: ", 1)[0]
    assert (t.prompt_tokens, t.completion_tokens, t.cached_tokens) == (24, 5, 8)
    assert t.stop_reason == "max_tokens" and t.finish_reason == "length"


def test_python_and_native_finish_reasons_agree() -> None:
    for reason in [
        "end_turn",
        "tool_use",
        "max_tokens",
        "stop_sequence",
        "guardrail_intervened",
        "content_filtered",
        "malformed_model_output",
        "malformed_tool_use",
        "model_context_window_exceeded",
    ]:
        stop = frame(
            {":event-type": "messageStop", ":message-type": "event"},
            json.dumps({"stopReason": reason}).encode(),
        )
        _, t = translate([stop])
        assert t.finish_reason == translated.finish_reason(reason), reason


def test_framing_error_raises_translate_error() -> None:
    data = bytearray(upstream("stream_text"))
    data[5] ^= 0xFF
    t = BedrockStreamTranslator("x", "m", 1)
    with pytest.raises(TranslateError):
        t.feed(data)


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
    model: str = "us.amazon.nova-lite-v1:0",
    extra_headers: dict[str, str] | None = None,
) -> tuple[RequestContext, Reply | StreamReply, list[bytes]]:
    async def go() -> tuple[RequestContext, Reply | StreamReply, list[bytes]]:
        cfg = ProviderConfig(
            name="bedrock-up",
            type="bedrock",
            region=REGION,
            base_url=replay.base_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        provider = BedrockProvider(cfg, clock=lambda: CLOCK)
        ctx = RequestContext("req1", {})
        ctx.call = Call(Target.LLM, "chat.completions", "nova", stream, payload)
        ctx.upstream_headers = extra_headers
        deployment = Deployment("nova", "chat", model, provider)
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


def split_messages(data: list[bytes]) -> list[bytes]:
    """Messages as the network might deliver them: some cut in two, some glued together."""
    pieces: list[bytes] = []
    for i, m in enumerate(data):
        if i % 3 == 0:
            pieces.extend([m[:5], m[5:]])
        elif i % 3 == 1 and pieces:
            pieces[-1] += m
        else:
            pieces.append(m)
    return pieces


def test_exact_upstream_request_and_plain_answer(replay: Replay) -> None:
    case = json.loads((GOLDEN / "request_tools.json").read_text())
    answer = json.loads((GOLDEN / "response_tool_use.json").read_text())
    replay.add(200, JSON, json.dumps(answer["bedrock"]).encode())
    ctx, reply, _ = run_chat(replay, case["openai"], False, case["model"])
    (sent,) = replay.requests()
    assert sent["path"] == case["path"]
    assert sent["raw_body"] == orjson.dumps(case["bedrock"])
    headers = sent["headers"]
    assert headers["x-amz-date"] == "20231114T221320Z"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20231114/{REGION}/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature="
    )
    assert verify_signature("POST", sent["path"], headers, sent["raw_body"], None) is None
    assert isinstance(reply, Reply) and reply.status == 200
    assert orjson.loads(reply.body) == answer["openai"]
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens) == (375, 42)


def test_route_headers_are_signed(replay: Replay) -> None:
    answer = json.loads((GOLDEN / "response_text.json").read_text())["bedrock"]
    replay.add(200, JSON, json.dumps(answer).encode())
    payload = {"model": "nova", "messages": [{"role": "user", "content": "x"}]}
    run_chat(replay, payload, False, extra_headers={"x-route-header": "r1"})
    (sent,) = replay.requests()
    assert sent["headers"]["x-route-header"] == "r1"
    assert "SignedHeaders=content-type;host;x-amz-date;x-route-header," in sent["headers"]["authorization"]
    assert verify_signature("POST", sent["path"], sent["headers"], sent["raw_body"], None) is None


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_through_the_provider(replay: Replay, include_usage: bool) -> None:
    replay.add(200, EVENTSTREAM, *split_messages(messages("stream_tools")))
    payload: dict[str, Any] = {
        "model": "nova",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
    }
    if include_usage:
        payload["stream_options"] = {"include_usage": True}
    ctx, reply, got = run_chat(replay, payload, True)
    assert isinstance(reply, StreamReply) and reply.complete and reply.error is None
    want = expected("stream_tools")
    assert b"".join(got) == (want if include_usage else want.rsplit(b"data: ", 1)[0])
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens) == (375, 42)
    assert replay.requests()[0]["path"] == "/model/us.amazon.nova-lite-v1%3A0/converse-stream"


def test_stream_ending_after_stop_without_metadata_is_complete(replay: Replay) -> None:
    replay.add(200, EVENTSTREAM, *messages("stream_tools")[:-1])
    payload = {"model": "nova", "messages": [{"role": "user", "content": "x"}], "stream": True}
    ctx, reply, got = run_chat(replay, payload, True)
    assert isinstance(reply, StreamReply) and reply.complete and reply.error is None
    assert b'"finish_reason":"tool_calls"' in b"".join(got)
    assert ctx.usage.estimated  # no metadata: completion tokens estimated from the text


def test_exception_mid_stream_sets_the_error(replay: Replay) -> None:
    replay.add(200, EVENTSTREAM, *messages("stream_exception"))
    payload = {"model": "nova", "messages": [{"role": "user", "content": "x"}], "stream": True}
    _, reply, got = run_chat(replay, payload, True)
    assert isinstance(reply, StreamReply) and not reply.complete
    assert reply.error is not None and reply.error.code == "upstream_stream_interrupted"
    assert "modelStreamErrorException: Model stream error" in reply.error.message
    assert b"".join(got) == expected("stream_exception")


def test_dropped_connection_mid_message_sets_the_error(replay: Replay) -> None:
    data = messages("stream_text")
    replay.add(200, EVENTSTREAM, *data[:3], data[3][:10], None)
    payload = {"model": "nova", "messages": [{"role": "user", "content": "x"}], "stream": True}
    _, reply, _ = run_chat(replay, payload, True)
    assert isinstance(reply, StreamReply) and not reply.complete
    assert reply.error is not None and reply.error.code == "upstream_stream_interrupted"


def test_exception_before_the_answer_is_an_error_reply(replay: Replay) -> None:
    throttled = frame(
        {
            ":exception-type": "throttlingException",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        b'{"message":"Too many tokens."}',
    )
    replay.add(200, EVENTSTREAM, messages("stream_text")[0], throttled)
    payload = {"model": "nova", "messages": [{"role": "user", "content": "x"}], "stream": True}
    ctx, reply, _ = run_chat(replay, payload, True)
    assert isinstance(reply, Reply) and reply.status == 429
    assert orjson.loads(reply.body)["error"] == {
        "message": "Too many tokens.",
        "type": "rate_limit_error",
        "param": None,
        "code": "ThrottlingException",
    }
    assert ctx.error_code == "ThrottlingException"


@pytest.mark.parametrize("stream", [False, True])
def test_http_errors_keep_status(replay: Replay, stream: bool) -> None:
    replay.add(
        503,
        {
            **JSON,
            "x-amzn-ErrorType": "ServiceUnavailableException:http://internal.amazon.com/",
            "retry-after": "3",
        },
        b'{"message":"Service unavailable."}',
    )
    payload = {"model": "nova", "messages": [{"role": "user", "content": "x"}], "stream": stream}
    _, reply, _ = run_chat(replay, payload, stream)
    assert isinstance(reply, Reply) and reply.status == 503
    assert ("retry-after", "3") in reply.headers
    assert orjson.loads(reply.body)["error"]["code"] == "ServiceUnavailableException"


def test_malformed_stream_before_the_answer_is_a_502(replay: Replay) -> None:
    replay.add(200, EVENTSTREAM, b"\x00\x00\x00\x10garbage-garbage-garbage")
    payload = {"model": "nova", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with pytest.raises(GatewayError) as info:
        run_chat(replay, payload, True)
    assert info.value.status == 502 and info.value.code == "upstream_error"
