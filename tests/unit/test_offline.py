from __future__ import annotations

import asyncio
import base64
from array import array
from typing import Any

import orjson
import pytest

from brutor.context import Call, RequestContext, Target
from brutor.errors import GatewayError
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers.base import Deployment
from brutor.providers.offline import EMBED_DIMS, OfflineProvider, hashed_embedding

PROVIDER = OfflineProvider("offline")
CHAT = Deployment("offline/echo", "chat", "offline/echo", PROVIDER)
EMBED = Deployment("offline/embed", "embedding", "offline/embed", PROVIDER)


def run_chat(payload: dict[str, Any], stream: bool = False) -> tuple[RequestContext, Reply | StreamReply]:
    ctx = RequestContext("rid", {})
    ctx.call = Call(Target.LLM, "chat.completions", "offline/echo", stream, payload)
    return ctx, asyncio.run(PROVIDER.chat(ctx, CHAT, payload))


def collect(reply: StreamReply) -> list[dict[str, Any]]:
    async def go() -> list[bytes]:
        return [c async for c in reply.chunks]

    return [orjson.loads(c.removeprefix(b"data: ")) for c in asyncio.run(go())]


MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello big world"}]


def test_non_stream_answer_and_usage() -> None:
    ctx, reply = run_chat({"messages": MESSAGES})
    assert isinstance(reply, Reply)
    doc = orjson.loads(reply.body)
    content = doc["choices"][0]["message"]["content"]
    assert content == "This is Brutor's offline model. You said: hello big world"
    assert doc["system_fingerprint"] == "brutor-offline"
    assert doc["usage"] == {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15}
    assert (ctx.usage.prompt_tokens, ctx.usage.completion_tokens) == (5, 10)


def test_stream_is_word_by_word_and_matches_non_stream() -> None:
    _, whole = run_chat({"messages": MESSAGES})
    _, reply = run_chat({"messages": MESSAGES, "stream_options": {"include_usage": True}}, stream=True)
    assert isinstance(reply, StreamReply) and isinstance(whole, Reply)
    events = collect(reply)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]]
    assert "".join(pieces) == orjson.loads(whole.body)["choices"][0]["message"]["content"]
    assert pieces[2] == " is"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] == 10


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    _, reply = run_chat({"messages": MESSAGES}, stream=True)
    assert isinstance(reply, StreamReply)
    assert all(e["choices"] for e in collect(reply))


def test_max_tokens_truncates_with_length() -> None:
    _, reply = run_chat({"messages": MESSAGES, "max_tokens": 3})
    assert isinstance(reply, Reply)
    doc = orjson.loads(reply.body)
    assert doc["choices"][0]["message"]["content"] == "This is Brutor's"
    assert doc["choices"][0]["finish_reason"] == "length"


def test_json_response_format() -> None:
    _, reply = run_chat({"messages": MESSAGES, "response_format": {"type": "json_object"}})
    assert isinstance(reply, Reply)
    content = orjson.loads(reply.body)["choices"][0]["message"]["content"]
    assert orjson.loads(content) == {"model": "offline", "you_said": "hello big world"}


def test_embeddings_float_and_base64_agree() -> None:
    def embed(payload: dict[str, Any]) -> dict[str, Any]:
        ctx = RequestContext("rid", {})
        reply = asyncio.run(PROVIDER.embeddings(ctx, EMBED, payload))
        return orjson.loads(reply.body)  # type: ignore[no-any-return]

    floats = embed({"input": ["the cat sat", "a dog ran"]})
    b64 = embed({"input": ["the cat sat", "a dog ran"], "encoding_format": "base64"})
    assert len(floats["data"]) == 2 and len(floats["data"][0]["embedding"]) == EMBED_DIMS
    decoded = array("f", base64.b64decode(b64["data"][0]["embedding"])).tolist()
    assert decoded == pytest.approx(floats["data"][0]["embedding"], abs=1e-6)
    assert floats["usage"] == {"prompt_tokens": 6, "total_tokens": 6}


def test_embedding_is_unit_norm_and_similarity_tracks_shared_words() -> None:
    a, b, c = (
        hashed_embedding(t, EMBED_DIMS) for t in ("red apple pie", "red apple tart", "quantum field theory")
    )
    assert sum(x * x for x in a) == pytest.approx(1.0)

    def dot(u: list[float], v: list[float]) -> float:
        return sum(x * y for x, y in zip(u, v, strict=True))

    assert dot(a, b) > dot(a, c)


@pytest.mark.parametrize(
    "payload", [{"input": 3}, {"input": "x", "dimensions": 0}, {"input": "x", "encoding_format": "hex"}]
)
def test_embedding_rejections(payload: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as info:
        asyncio.run(PROVIDER.embeddings(RequestContext("rid", {}), EMBED, payload))
    assert info.value.status == 400
