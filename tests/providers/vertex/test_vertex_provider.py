"""VertexProvider against the mock Vertex: the exact upstream request, answers, streams and errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mock_vertex import CREATED, MODEL_PREFIX, RETRY_AFTER_SECONDS, THOUGHT_SIGNATURE, MockVertex

from brutor.config import ProviderConfig
from brutor.context import Call, RequestContext, Target
from brutor.errors import GatewayError
from brutor.pipeline.reply import Reply, StreamReply
from brutor.providers.base import Deployment
from brutor.providers.vertex import VertexProvider

T = TypeVar("T")
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _provider(mock: MockVertex, sa_file: Path) -> VertexProvider:
    cfg = ProviderConfig(
        name="vertex-test",
        type="vertex",
        project="mock-project",
        region="us-central1",
        base_url=mock.base_url,
        credentials_file=str(sa_file),
        headers={"x-extra": "1"},
        timeouts={"connect": 2, "first_byte": 5, "idle": 5, "total": 10},
    )
    return VertexProvider(cfg)


class Harness:
    def __init__(self, mock: MockVertex, sa_file: Path) -> None:
        self.mock, self.sa_file = mock, sa_file
        self.ctx = RequestContext("req-vertex-1", {})

    async def _go(self, model: str, payload: dict[str, Any], op: str) -> tuple[Reply | StreamReply, bytes]:
        provider = _provider(self.mock, self.sa_file)
        deployment = Deployment("gem", "chat", model, provider)
        stream = bool(payload.get("stream"))
        self.ctx.call = Call(Target.LLM, op, "gem", stream, payload)
        try:
            if op == "embeddings":
                return await provider.embeddings(self.ctx, deployment, payload), b""
            reply = await provider.chat(self.ctx, deployment, payload)
            body = b""
            if isinstance(reply, StreamReply):
                body = b"".join([c async for c in reply.chunks])
                await reply.aclose()
            return reply, body
        finally:
            await provider.aclose()

    def call(self, model: str, payload: dict[str, Any], op: str = "chat.completions") -> tuple[Any, bytes]:
        self.mock.reset()
        return run(self._go(model, payload, op))


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture
def h(vertex_mock: MockVertex, sa_file: Path) -> Harness:
    return Harness(vertex_mock, sa_file)


def _frames(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(b[6:]) for b in body.split(b"\n\n") if b]


def test_unary_exact_upstream_request_and_answer(h: Harness) -> None:
    reply, _ = h.call("gemini-mock", {"model": "gem", "messages": HELLO, "temperature": 0})
    [req] = h.mock.requests()
    assert req["path"] == MODEL_PREFIX + "gemini-mock:generateContent" and req["query"] == ""
    headers = req["headers"]
    assert headers["authorization"].startswith("Bearer ya29.mock-")
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "req-vertex-1"
    assert headers["x-extra"] == "1"
    assert headers["user-agent"].startswith("brutor/")
    assert req["body"] == {
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0},
    }
    assert reply.status == 200 and reply.headers == [("content-type", "application/json")]
    assert json.loads(reply.body) == {
        "id": "chatcmpl-mockResp",
        "object": "chat.completion",
        "created": CREATED,
        "model": "gemini-mock-001",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Mock reply to: hello there"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9},
    }
    assert (h.ctx.usage.prompt_tokens, h.ctx.usage.completion_tokens) == (4, 5)
    assert h.ctx.ttft_ms is not None


def test_stream_exact_upstream_request_and_chunks(h: Harness) -> None:
    payload = {"model": "gem", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    reply, body = h.call("gemini-mock", payload)
    [req] = h.mock.requests()
    assert req["path"] == MODEL_PREFIX + "gemini-mock:streamGenerateContent" and req["query"] == "alt=sse"
    assert "stream" not in req["body"] and "stream_options" not in json.dumps(req["body"])
    assert isinstance(reply, StreamReply) and reply.complete and reply.error is None
    assert ("content-type", "text/event-stream") in reply.headers
    chunks = _frames(body)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Mock"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Mock reply to: hello there"
    assert [c["choices"][0]["finish_reason"] for c in chunks[-3:-1]] == [None, "stop"]
    assert chunks[-1] == {
        "id": "chatcmpl-mockResp",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": "gemini-mock-001",
        "choices": [],
        "usage": {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9},
    }
    assert not body.endswith(b"data: [DONE]\n\n"), "the server writes [DONE] after recording"
    assert (h.ctx.usage.prompt_tokens, h.ctx.usage.completion_tokens, h.ctx.usage.estimated) == (4, 5, False)


def test_tool_call_round_trip_keeps_the_thought_signature(h: Harness) -> None:
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    reply, _ = h.call("gemini-thinking", {"model": "gem", "messages": ask, "tools": [WEATHER_TOOL]})
    message = json.loads(reply.body)["choices"][0]["message"]
    assert json.loads(reply.body)["choices"][0]["finish_reason"] == "tool_calls"
    [call] = message["tool_calls"]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city":"mock"}'}
    assert call["extra_content"] == {"google": {"thought_signature": THOUGHT_SIGNATURE}}
    assert json.loads(reply.body)["usage"]["completion_tokens_details"] == {"reasoning_tokens": 5}
    follow = [*ask, message, {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'}]
    reply, _ = h.call("gemini-thinking", {"model": "gem", "messages": follow, "tools": [WEATHER_TOOL]})
    [req] = h.mock.requests()
    assert req["body"]["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "mock"}},
                    "thoughtSignature": THOUGHT_SIGNATURE,
                }
            ],
        },
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}],
        },
    ]
    assert json.loads(reply.body)["choices"][0]["message"]["content"] == 'Tool said: [{"temp_c": 21}]'


def test_streamed_tool_call(h: Harness) -> None:
    payload = {
        "model": "gem",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [WEATHER_TOOL],
        "stream": True,
    }
    reply, body = h.call("gemini-mock", payload)
    chunks = _frames(body)
    assert reply.complete
    assert chunks[0]["choices"][0]["delta"]["tool_calls"] == [
        {
            "index": 0,
            "id": "call_mockResp_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"mock"}'},
        }
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c["choices"] for c in chunks), "no usage chunk unless the client asked"


def test_429_keeps_status_and_retry_after(h: Harness) -> None:
    reply, _ = h.call("gemini-429", {"model": "gem", "messages": HELLO})
    assert reply.status == 429
    assert ("retry-after", RETRY_AFTER_SECONDS) in reply.headers
    assert json.loads(reply.body) == {
        "error": {
            "message": "Resource exhausted. Please try again later.",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert h.ctx.error_code == "rate_limit_exceeded"


def test_500_on_a_stream_request_is_a_plain_error(h: Harness) -> None:
    reply, _ = h.call("gemini-500", {"model": "gem", "messages": HELLO, "stream": True})
    assert isinstance(reply, Reply) and reply.status == 500
    error = json.loads(reply.body)["error"]
    assert (error["type"], error["code"], error["message"]) == (
        "server_error",
        "internal",
        "Internal error encountered.",
    )


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_prompt_is_400_content_policy_violation(h: Harness, stream: bool) -> None:
    with pytest.raises(GatewayError) as exc:
        h.call("gemini-blocked-prompt", {"model": "gem", "messages": HELLO, "stream": stream})
    assert exc.value.status == 400 and exc.value.code == "content_policy_violation"
    assert exc.value.message == (
        "The prompt was blocked by Vertex AI's content filters (SAFETY): The prompt could be harmful."
    )
    assert h.ctx.usage.prompt_tokens == 4


def test_blocked_answer_is_finish_reason_content_filter(h: Harness) -> None:
    reply, _ = h.call("gemini-blocked-answer", {"model": "gem", "messages": HELLO})
    choice = json.loads(reply.body)["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] is None
    reply, body = h.call("gemini-blocked-answer", {"model": "gem", "messages": HELLO, "stream": True})
    chunks = _frames(body)
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == ["Mock", " reply", None]
    assert chunks[-1]["choices"][0]["finish_reason"] == "content_filter"
    assert reply.complete and reply.error is None


def test_stream_cut_midway_is_an_error_not_an_end(h: Harness) -> None:
    reply, body = h.call("gemini-die-midstream", {"model": "gem", "messages": HELLO, "stream": True})
    assert not reply.complete
    assert reply.error is not None and reply.error.code == "upstream_stream_interrupted"
    assert len(_frames(body)) == 2
    assert h.ctx.usage.estimated and h.ctx.usage.completion_tokens == 3  # "Mock reply" -> 10 chars


def test_stream_without_usage_is_estimated(h: Harness) -> None:
    reply, _ = h.call("gemini-no-usage", {"model": "gem", "messages": HELLO, "stream": True})
    assert reply.complete and reply.error is None
    assert (
        h.ctx.usage.estimated
        and h.ctx.usage.completion_tokens == (len("Mock reply to: hello there") + 3) // 4
    )


def test_usage_after_the_finish_is_waited_for(h: Harness) -> None:
    payload = {"model": "gem", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    reply, body = h.call("gemini-trailing-usage", payload)
    assert reply.complete and reply.error is None
    assert _frames(body)[-1]["usage"] == {"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9}
    assert (h.ctx.usage.completion_tokens, h.ctx.usage.estimated) == (5, False)


def test_revoked_token_is_refetched_after_a_401(h: Harness) -> None:
    async def scenario() -> list[int]:
        provider = _provider(h.mock, h.sa_file)
        deployment = Deployment("gem", "chat", "gemini-mock", provider)
        statuses = []
        for revoke in (False, True, False):
            if revoke:
                with h.mock.server.lock:
                    h.mock.server.tokens.clear()
            ctx = RequestContext("r", {})
            ctx.call = Call(Target.LLM, "chat.completions", "gem", False, {})
            statuses.append((await provider.chat(ctx, deployment, {"messages": HELLO})).status)
        await provider.aclose()
        return statuses

    before = h.mock.token_requests
    assert run(scenario()) == [200, 401, 200]
    assert h.mock.token_requests == before + 2


def test_token_failure_is_a_502_naming_the_deployment(h: Harness, tmp_path: Path) -> None:
    info = h.mock.service_account()
    info["token_uri"] = "http://127.0.0.1:9/token"
    h.sa_file = tmp_path / "sa.json"
    h.sa_file.write_text(json.dumps(info))
    with pytest.raises(GatewayError) as exc:
        h.call("gemini-mock", {"model": "gem", "messages": HELLO})
    assert (exc.value.status, exc.value.code) == (502, "upstream_auth_error")
    assert "'gem'" in exc.value.message and "BEGIN PRIVATE KEY" not in exc.value.message


def test_embeddings_through_predict(h: Harness) -> None:
    payload = {"model": "gem", "input": ["one two", "three"], "dimensions": 4}
    reply, _ = h.call("text-embedding-005", payload, op="embeddings")
    [req] = h.mock.requests()
    assert req["path"] == MODEL_PREFIX + "text-embedding-005:predict"
    assert req["body"] == {
        "instances": [{"content": "one two"}, {"content": "three"}],
        "parameters": {"outputDimensionality": 4},
    }
    doc = json.loads(reply.body)
    assert [d["index"] for d in doc["data"]] == [0, 1] and len(doc["data"][0]["embedding"]) == 4
    assert doc["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert h.ctx.usage.prompt_tokens == 3


def test_full_resource_names_and_the_global_endpoint() -> None:
    cfg = ProviderConfig(name="v", type="vertex", project="p", region="global")
    provider = VertexProvider(cfg)
    plain = Deployment("a", "chat", "gemini-2.5-flash", provider)
    tuned = Deployment("b", "chat", "projects/p/locations/europe-west4/endpoints/123", provider)
    assert provider._url(plain, "generateContent") == (
        "https://aiplatform.googleapis.com/v1/projects/p/locations/global/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )
    assert provider._url(tuned, "generateContent") == (
        "https://aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/endpoints/123:generateContent"
    )
    regional = VertexProvider(ProviderConfig(name="v", type="vertex", project="p", region="europe-west4"))
    assert regional._url(plain, "predict").startswith(
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/"
    )
