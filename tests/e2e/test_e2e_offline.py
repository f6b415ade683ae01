"""The offline provider through the full gateway, driven by the official openai SDK (sync and async)."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
from typing import Any

import openai
import pytest
from e2e_support import (
    ALL_MODELS,
    TEAM_A_KEY,
    TEAM_A_MODELS,
    TEAM_B_KEY,
    assert_openai_error,
    auth,
    make_async_client,
    offline_answer,
    offline_pieces,
    offline_prompt_tokens,
    sse_data,
    word_count,
)

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "first question here"},
    {"role": "assistant", "content": "an earlier answer"},
    {"role": "user", "content": "Hello brave new world"},
]
ANSWER = offline_answer("Hello brave new world")


def test_offline_chat_non_stream(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="offline/echo", messages=MESSAGES)
    assert r.object == "chat.completion"
    assert r.id
    assert r.system_fingerprint == "brutor-offline"
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == ANSWER
    assert choice.finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.prompt_tokens == offline_prompt_tokens(MESSAGES) == 3 + 3 + 3 + 4
    assert r.usage.completion_tokens == word_count(ANSWER) == 11
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_offline_chat_uses_last_user_message_only(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "alpha"},
        {"role": "user", "content": "omega point"},
        {"role": "assistant", "content": "trailing assistant turn"},
    ]
    r = client.chat.completions.create(model="offline/echo", messages=messages)
    assert r.choices[0].message.content == offline_answer("omega point")
    assert r.usage is not None and r.usage.prompt_tokens == 1 + 2 + 3


def _stream_chunks(client: openai.OpenAI, **kw: Any) -> list[Any]:
    stream = client.chat.completions.create(model="offline/echo", messages=MESSAGES, stream=True, **kw)
    with stream:
        return list(stream)


def _check_offline_stream(chunks: list[Any]) -> None:
    choice_chunks = [c for c in chunks if c.choices]
    assert choice_chunks, chunks
    for c in chunks:
        assert c.object == "chat.completion.chunk"
    assert choice_chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in choice_chunks if c.choices[0].delta.content]
    assert pieces == offline_pieces(ANSWER)
    assert "".join(pieces) == ANSWER
    assert choice_chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in choice_chunks[:-1])


def test_offline_stream_without_usage(client: openai.OpenAI) -> None:
    chunks = _stream_chunks(client)
    _check_offline_stream(chunks)
    assert [c for c in chunks if not c.choices] == [], "usage-only chunk sent although not asked for"
    assert all(getattr(c, "usage", None) is None for c in chunks)


def test_offline_stream_with_include_usage(client: openai.OpenAI) -> None:
    chunks = _stream_chunks(client, stream_options={"include_usage": True})
    _check_offline_stream(chunks)
    last = chunks[-1]
    assert last.choices == [], "the usage chunk must come last, with empty choices"
    assert last.usage is not None
    assert last.usage.prompt_tokens == offline_prompt_tokens(MESSAGES)
    assert last.usage.completion_tokens == word_count(ANSWER)
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert sum(1 for c in chunks if not c.choices) == 1


def test_offline_stream_include_usage_false(client: openai.OpenAI) -> None:
    chunks = _stream_chunks(client, stream_options={"include_usage": False})
    _check_offline_stream(chunks)
    assert all(c.choices for c in chunks)


def test_offline_stream_raw_wire_format(gateway: Any) -> None:
    """Raw SSE: content-type, one JSON object per data event, terminated by [DONE]."""
    resp = gateway.request(
        "POST",
        "/v1/chat/completions",
        {"model": "offline/echo", "messages": MESSAGES, "stream": True},
        auth(TEAM_B_KEY),
    )
    assert resp.status == 200, resp
    assert resp.headers["content-type"].startswith("text/event-stream"), resp.headers
    assert resp.complete
    events = sse_data(resp.body)
    assert events[-1] == "[DONE]"
    assert events.count("[DONE]") == 1
    objs = [json.loads(e) for e in events[:-1]]
    assert all(o["object"] == "chat.completion.chunk" for o in objs)
    assert len({o["id"] for o in objs}) == 1, "all chunks of one completion share its id"
    assert "".join(o["choices"][0]["delta"].get("content") or "" for o in objs) == ANSWER


def test_offline_async_chat_and_stream(gateway: Any) -> None:
    async def main() -> None:
        async with make_async_client(gateway) as ac:
            r = await ac.chat.completions.create(model="offline/echo", messages=MESSAGES)
            assert r.choices[0].message.content == ANSWER
            stream = await ac.chat.completions.create(
                model="offline/echo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
            chunks = [c async for c in stream]
            _check_offline_stream(chunks)
            assert chunks[-1].usage is not None
            assert chunks[-1].usage.completion_tokens == word_count(ANSWER)

    asyncio.run(main())


def test_offline_unicode_roundtrip(client: openai.OpenAI) -> None:
    text = 'héllo wörld 日本語 😀 «quotes» "dq"'
    r = client.chat.completions.create(model="offline/echo", messages=[{"role": "user", "content": text}])
    assert r.choices[0].message.content == offline_answer(text)
    stream = client.chat.completions.create(
        model="offline/echo", messages=[{"role": "user", "content": text}], stream=True
    )
    with stream:
        content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert content == offline_answer(text)


# ------------------------------------------------------------------------------------------- models


def test_models_list_team_b_sees_everything(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert set(models) == ALL_MODELS
    assert models["offline/echo"].owned_by == "brutor-offline"
    assert models["offline/embed"].owned_by == "brutor-offline"
    for m in models.values():
        assert m.object == "model"


def test_models_list_filtered_by_allow_list(client_a: openai.OpenAI) -> None:
    assert {m.id for m in client_a.models.list()} == TEAM_A_MODELS


def test_models_list_requires_auth(gateway: Any) -> None:
    assert_openai_error(gateway.request("GET", "/v1/models"), 401, "invalid_api_key")
    assert_openai_error(gateway.request("GET", "/v1/models", headers=auth("sk-not-a-real-key-000000")), 401)
    assert gateway.request("GET", "/v1/models", headers={"api-key": TEAM_A_KEY}).status == 200


# ------------------------------------------------------------------------------------------- embeddings


def test_offline_embeddings_sdk_default(client: openai.OpenAI) -> None:
    """The SDK asks for base64 by default and decodes it; either way it must yield 384 floats."""
    r = client.embeddings.create(model="offline/embed", input=["alpha", "beta", "alpha"])
    assert r.object == "list"
    assert [d.index for d in r.data] == [0, 1, 2]
    vecs = [d.embedding for d in r.data]
    for v in vecs:
        assert len(v) == 384
        assert all(isinstance(x, float) and math.isfinite(x) for x in v)
    assert vecs[0] == vecs[2], "deterministic: same input, same vector"
    assert vecs[0] != vecs[1]
    assert any(x != 0.0 for x in vecs[1])


def test_offline_embeddings_float_and_base64_agree(client: openai.OpenAI, gateway: Any) -> None:
    r = client.embeddings.create(model="offline/embed", input="the same text", encoding_format="float")
    floats = r.data[0].embedding
    assert isinstance(floats, list) and len(floats) == 384
    again = client.embeddings.create(model="offline/embed", input="the same text", encoding_format="float")
    assert again.data[0].embedding == floats

    raw = gateway.request(
        "POST",
        "/v1/embeddings",
        {"model": "offline/embed", "input": "the same text", "encoding_format": "base64"},
        auth(TEAM_B_KEY),
    )
    assert raw.status == 200, raw
    emb = raw.json()["data"][0]["embedding"]
    assert isinstance(emb, str), "encoding_format=base64 must return a base64 string (OpenAI behaviour)"
    decoded = struct.unpack(f"<{384}f", base64.b64decode(emb))
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6) for a, b in zip(decoded, floats, strict=True))


def test_offline_embeddings_async(gateway: Any) -> None:
    async def main() -> list[float]:
        async with make_async_client(gateway) as ac:
            r = await ac.embeddings.create(model="offline/embed", input="async text")
            return r.data[0].embedding

    vec = asyncio.run(main())
    assert len(vec) == 384


def test_chat_model_rejected_on_embeddings_endpoint(client: openai.OpenAI) -> None:
    """Using a chat model for embeddings (and vice versa) is a client error, never a 5xx."""
    with pytest.raises(openai.APIStatusError) as exc:
        client.embeddings.create(model="offline/echo", input="x")
    assert 400 <= exc.value.status_code < 500
    with pytest.raises(openai.APIStatusError) as exc2:
        client.chat.completions.create(model="offline/embed", messages=[{"role": "user", "content": "x"}])
    assert 400 <= exc2.value.status_code < 500
