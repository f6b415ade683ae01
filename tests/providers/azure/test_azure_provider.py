"""AzureOpenAIProvider against the mock Azure: exact upstream requests (deployment URL, api-version,
auth header, body) and exact OpenAI output (Azure's filter fields passed through)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from mock_azure import AD_TOKEN, API_KEY, CHOICE_FILTERS, PROMPT_FILTERS, MockAzure
from mock_openai import RETRY_AFTER_SECONDS, chat_reply, count_words, prompt_token_count, split_pieces

from brutor.config import ProviderConfig
from brutor.context import Call, RequestContext, Target
from brutor.credentials import Credentials
from brutor.pipeline.reply import StreamReply
from brutor.providers.azure import AzureOpenAIProvider
from brutor.providers.base import Deployment

VERSION = "2024-10-21"
MESSAGES = [{"role": "user", "content": "hello azure"}]


@pytest.fixture(scope="module")
def azure() -> Iterator[MockAzure]:
    mock = MockAzure().start()
    try:
        yield mock
    finally:
        mock.stop()


def _cfg(mock: MockAzure, **over: Any) -> ProviderConfig:
    fields: dict[str, Any] = {
        "name": "az",
        "type": "azure",
        "base_url": mock.base_url,
        "api_version": VERSION,
    }
    fields.update(over)
    if "azure_ad_token" not in fields:
        fields.setdefault("api_key", API_KEY)
    return ProviderConfig(**fields)


def call(
    cfg: ProviderConfig, deployment: str, payload: dict[str, Any], op: str = "chat.completions"
) -> tuple[RequestContext, Any, bytes]:
    async def main() -> tuple[RequestContext, Any, bytes]:
        provider = AzureOpenAIProvider(cfg)
        ctx = RequestContext("req-az-1", {})
        ctx.call = Call(Target.LLM, op, "alias", bool(payload.get("stream")), payload)
        d = Deployment("alias", "chat", deployment, provider)
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

    return asyncio.run(main())


def _events(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(b[6:]) for b in body.split(b"\n\n") if b]


def test_chat_exact_request_and_passthrough(azure: MockAzure) -> None:
    azure.reset()
    payload = {"model": "alias", "messages": MESSAGES, "temperature": 0.5, "user": "u-1"}
    ctx, reply, _ = call(_cfg(azure, headers={"x-extra": "1"}), "mock-gpt", payload)
    [req] = azure.requests()
    assert req["path"] == f"/openai/deployments/mock-gpt/chat/completions?api-version={VERSION}"
    assert req["headers"]["api-key"] == API_KEY and "authorization" not in req["headers"]
    assert req["headers"]["x-request-id"] == "req-az-1" and req["headers"]["x-extra"] == "1"
    assert req["body"] == {**payload, "model": "mock-gpt"}
    assert reply.status == 200
    doc = json.loads(reply.body)
    assert doc["prompt_filter_results"] == PROMPT_FILTERS
    assert doc["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": chat_reply(MESSAGES), "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
            "content_filter_results": CHOICE_FILTERS,
        }
    ]
    assert ctx.usage.prompt_tokens == prompt_token_count(MESSAGES)


def test_entra_id_token_is_a_bearer_header(azure: MockAzure) -> None:
    azure.reset()
    _, reply, _ = call(_cfg(azure, azure_ad_token=AD_TOKEN), "mock-gpt", {"messages": MESSAGES})
    assert reply.status == 200
    headers = azure.requests()[0]["headers"]
    assert headers["authorization"] == f"Bearer {AD_TOKEN}" and "api-key" not in headers


def test_rotated_key_is_used_at_once(azure: MockAzure, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    monkeypatch.setenv("BRUTOR_TEST_AZURE_KEY", "stale-key-00000000")
    live = Credentials(None).secret(SecretStr("env:BRUTOR_TEST_AZURE_KEY"))
    cfg = _cfg(azure, api_key=live)

    async def main() -> list[int]:
        provider = AzureOpenAIProvider(cfg)
        d = Deployment("alias", "chat", "mock-gpt", provider)
        statuses = []
        for key in ("stale-key-00000000", API_KEY):
            live._credential.value = key  # type: ignore[union-attr]
            ctx = RequestContext("r", {})
            ctx.call = Call(Target.LLM, "chat.completions", "alias", False, {})
            statuses.append((await provider.chat(ctx, d, {"messages": MESSAGES})).status)
        await provider.aclose()
        return statuses

    assert asyncio.run(main()) == [401, 200]


def test_stream_keeps_azure_chunks_and_asks_for_usage(azure: MockAzure) -> None:
    azure.reset()
    ctx, reply, body = call(_cfg(azure), "mock-gpt", {"messages": MESSAGES, "stream": True})
    assert azure.requests()[0]["body"]["stream_options"] == {"include_usage": True}
    assert reply.complete and reply.error is None
    events = _events(body)
    assert events[0] == {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": PROMPT_FILTERS,
    }
    content = [e["choices"][0]["delta"].get("content") for e in events[1:] if e["choices"]]
    assert "".join(c or "" for c in content) == chat_reply(MESSAGES)
    assert [p for p in content if p] == split_pieces(chat_reply(MESSAGES))
    assert all("usage" not in e for e in events), "the usage chunk is the gateway's, not this client's"
    assert events[1]["choices"][0]["content_filter_results"] == CHOICE_FILTERS
    assert (ctx.usage.completion_tokens, ctx.usage.estimated) == (count_words(chat_reply(MESSAGES)), False)


def test_old_api_version_streams_without_stream_options(azure: MockAzure) -> None:
    azure.reset()
    ctx, reply, _ = call(
        _cfg(azure, api_version="2024-02-01"), "mock-gpt", {"messages": MESSAGES, "stream": True}
    )
    req = azure.requests()[0]
    assert req["path"].endswith("?api-version=2024-02-01") and "stream_options" not in req["body"]
    assert reply.complete and ctx.usage.estimated


def test_prompt_filter_is_content_policy_violation(azure: MockAzure) -> None:
    ctx, reply, _ = call(_cfg(azure), "mock-prompt-filtered", {"messages": MESSAGES})
    assert reply.status == 400
    error = json.loads(reply.body)["error"]
    assert error["code"] == "content_policy_violation" == ctx.error_code
    assert error["type"] == "invalid_request_error" and error["param"] == "prompt"
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert error["message"].startswith("The response was filtered due to the prompt")


def test_filtered_answer_passes_as_content_filter(azure: MockAzure) -> None:
    _, reply, _ = call(_cfg(azure), "mock-answer-filtered", {"messages": MESSAGES})
    choice = json.loads(reply.body)["choices"][0]
    assert (reply.status, choice["finish_reason"], choice["message"]["content"]) == (
        200,
        "content_filter",
        None,
    )
    assert choice["content_filter_results"]["sexual"] == {"filtered": True, "severity": "medium"}


def test_throttling_is_openai_shaped_with_retry_after(azure: MockAzure) -> None:
    ctx, reply, _ = call(_cfg(azure), "mock-429", {"messages": MESSAGES, "stream": True})
    assert reply.status == 429 and ("retry-after", RETRY_AFTER_SECONDS) in reply.headers
    error = json.loads(reply.body)["error"]
    assert (error["code"], error["type"], error["param"]) == ("rate_limit_exceeded", "rate_limit_error", None)
    assert error["message"].startswith("Requests to the ChatCompletions_Create Operation")
    assert ctx.error_code == "rate_limit_exceeded"


def test_server_error_and_bad_key(azure: MockAzure) -> None:
    _, reply, _ = call(_cfg(azure), "mock-500", {"messages": MESSAGES})
    assert reply.status == 500 and json.loads(reply.body)["error"]["type"] == "server_error"
    _, reply, _ = call(_cfg(azure, api_key="wrong-key-0000000000"), "mock-gpt", {"messages": MESSAGES})
    error = json.loads(reply.body)["error"]
    assert reply.status == 401 and error["type"] == "authentication_error" and error["param"] is None


def test_embeddings_on_the_deployment_url(azure: MockAzure) -> None:
    azure.reset()
    payload = {"model": "alias", "input": ["a b", "c"], "dimensions": 4}
    ctx, reply, _ = call(_cfg(azure), "mock-embed", payload, op="embeddings")
    [req] = azure.requests()
    assert req["path"] == f"/openai/deployments/mock-embed/embeddings?api-version={VERSION}"
    assert req["body"] == {**payload, "model": "mock-embed"}
    doc = json.loads(reply.body)
    assert len(doc["data"]) == 2 and len(doc["data"][0]["embedding"]) == 4
    assert ctx.usage.prompt_tokens == 3


def test_deployment_names_are_path_escaped_and_credentials_required(azure: MockAzure) -> None:
    provider = AzureOpenAIProvider(_cfg(azure))
    served = provider._deployment(Deployment("a", "chat", "team a/gpt", provider))
    assert served._chat_url.endswith(
        "/openai/deployments/team%20a%2Fgpt/chat/completions?api-version=2024-10-21"
    )
    asyncio.run(provider.aclose())
    suffixed = AzureOpenAIProvider(_cfg(azure, base_url=azure.base_url + "/openai/"))
    assert suffixed._deployment(Deployment("a", "chat", "d", suffixed))._chat_url.startswith(
        f"{azure.base_url}/openai/deployments/d/"
    )
    asyncio.run(suffixed.aclose())
    with pytest.raises(ValueError, match="api_key or azure_ad_token"):
        AzureOpenAIProvider(
            ProviderConfig(name="az", type="azure", base_url=azure.base_url, api_version=VERSION)
        )
