"""MistralProvider against the mock Mistral (strict like the real API): exact requests, streams with
usage in the last chunk, Mistral's errors with their status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from mock_mistral import API_KEY, MockMistral
from mock_openai import RETRY_AFTER_SECONDS, chat_reply, count_words, prompt_token_count, split_pieces

from brutor.config import ProviderConfig
from brutor.context import Call, RequestContext, Target
from brutor.pipeline.reply import StreamReply
from brutor.providers.base import Deployment
from brutor.providers.mistral import MistralProvider

MESSAGES = [{"role": "user", "content": "bonjour mistral"}]


@pytest.fixture(scope="module")
def mistral() -> Iterator[MockMistral]:
    mock = MockMistral().start()
    try:
        yield mock
    finally:
        mock.stop()


def call(
    mock: MockMistral, model: str, payload: dict[str, Any], op: str = "chat.completions"
) -> tuple[RequestContext, Any, bytes]:
    async def main() -> tuple[RequestContext, Any, bytes]:
        cfg = ProviderConfig(name="mi", type="mistral", base_url=mock.base_url, api_key=API_KEY)
        provider = MistralProvider(cfg)
        ctx = RequestContext("req-mi-1", {})
        ctx.call = Call(Target.LLM, op, "alias", bool(payload.get("stream")), payload)
        d = Deployment("alias", "chat", model, provider)
        try:
            if op == "embeddings":
                return ctx, await provider.embeddings(ctx, d, payload), b""
            reply = await provider.chat(ctx, d, payload)
            body = b""
            if isinstance(reply, StreamReply):
                body = b"".join([bytes(c) async for c in reply.chunks])
                await reply.aclose()
            return ctx, reply, body
        finally:
            await provider.aclose()

    mock.reset()
    return asyncio.run(main())


def test_default_base_url() -> None:
    provider = MistralProvider(ProviderConfig(name="mi", type="mistral", api_key="k" * 16))
    assert provider._chat_url == "https://api.mistral.ai/v1/chat/completions"
    assert provider._embeddings_url == "https://api.mistral.ai/v1/embeddings"
    asyncio.run(provider.aclose())
    written_openai_style = ProviderConfig(name="mi", type="mistral", base_url="https://api.mistral.ai/v1/")
    provider = MistralProvider(written_openai_style)
    assert provider._chat_url == "https://api.mistral.ai/v1/chat/completions"
    asyncio.run(provider.aclose())


def test_chat_exact_request(mistral: MockMistral) -> None:
    payload = {"model": "alias", "messages": MESSAGES, "seed": 3, "user": "u", "max_completion_tokens": 9}
    ctx, reply, _ = call(mistral, "mock-gpt", payload)
    [req] = mistral.requests()
    assert req["path"] == "/v1/chat/completions"
    assert (
        req["headers"]["authorization"] == f"Bearer {API_KEY}"
        and req["headers"]["x-request-id"] == "req-mi-1"
    )
    assert req["body"] == {"model": "mock-gpt", "messages": MESSAGES, "random_seed": 3, "max_tokens": 9}
    assert reply.status == 200
    assert json.loads(reply.body)["choices"][0]["message"]["content"] == chat_reply(MESSAGES)
    assert ctx.usage.prompt_tokens == prompt_token_count(MESSAGES)


def test_stream_usage_arrives_with_the_last_chunk(mistral: MockMistral) -> None:
    ctx, reply, body = call(mistral, "mock-gpt", {"messages": MESSAGES, "stream": True})
    assert "stream_options" not in mistral.requests()[0]["body"]
    assert reply.complete and reply.error is None
    events = [json.loads(b[6:]) for b in body.split(b"\n\n") if b]
    assert [
        e["choices"][0]["delta"].get("content") for e in events if e["choices"][0]["delta"].get("content")
    ] == (split_pieces(chat_reply(MESSAGES)))
    last = events[-1]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["usage"]["completion_tokens"] == count_words(chat_reply(MESSAGES))
    assert (ctx.usage.completion_tokens, ctx.usage.estimated) == (count_words(chat_reply(MESSAGES)), False)


def test_tools_with_required_choice(mistral: MockMistral) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    payload = {"messages": MESSAGES, "tools": [tool], "tool_choice": "required", "stream": True}
    _, reply, body = call(mistral, "mock-gpt", payload)
    assert mistral.requests()[0]["body"]["tool_choice"] == "any"
    events = [json.loads(b[6:]) for b in body.split(b"\n\n") if b]
    assert events[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"] == "lookup"
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls" and reply.complete


def test_echoed_assistant_message_is_accepted(mistral: MockMistral) -> None:
    _, first, _ = call(mistral, "mock-gpt", {"messages": MESSAGES})
    echoed = json.loads(first.body)["choices"][0]["message"]  # carries "refusal": null, as OpenAI's does
    assert "refusal" in echoed
    _, reply, _ = call(
        mistral, "mock-gpt", {"messages": [*MESSAGES, echoed, {"role": "user", "content": "again"}]}
    )
    assert reply.status == 200


def test_rate_limit_keeps_status_and_retry_after(mistral: MockMistral) -> None:
    ctx, reply, _ = call(mistral, "mock-429", {"messages": MESSAGES})
    assert reply.status == 429 and ("retry-after", RETRY_AFTER_SECONDS) in reply.headers
    error = json.loads(reply.body)["error"]
    assert error["code"] == "rate_limit_exceeded" == ctx.error_code
    assert "Requests rate limit exceeded" in error["message"]


def test_unknown_parameter_reaches_the_client_as_mistral_refused_it(mistral: MockMistral) -> None:
    _, reply, _ = call(mistral, "mock-gpt", {"messages": MESSAGES, "web_search_options": {}})
    assert reply.status == 422
    assert "extra_forbidden" in json.loads(reply.body)["error"]["message"]


def test_embeddings(mistral: MockMistral) -> None:
    payload = {"model": "alias", "input": "one two three", "dimensions": 4, "user": "u"}
    ctx, reply, _ = call(mistral, "mock-embed", payload, op="embeddings")
    [req] = mistral.requests()
    assert req["path"] == "/v1/embeddings"
    assert req["body"] == {"model": "mock-embed", "input": "one two three", "output_dimension": 4}
    doc = json.loads(reply.body)
    assert reply.status == 200 and len(doc["data"][0]["embedding"]) == 4
    assert ctx.usage.prompt_tokens == 3
