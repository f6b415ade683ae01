"""End to end: the openai SDK -> ``brutor serve`` -> mock Azure OpenAI, mock Mistral, and a self-hosted
OpenAI-compatible server (vLLM/Ollama/TGI style) whose streams carry no usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from e2e_support import TEAM_B_KEY, GatewayProcess, json_lines, make_client, wait_until
from mock_azure import AD_TOKEN, CHOICE_FILTERS, MockAzure
from mock_azure import API_KEY as AZURE_KEY
from mock_mistral import API_KEY as MISTRAL_KEY
from mock_mistral import MockMistral
from mock_openai import DEFAULT_API_KEY, RETRY_AFTER_SECONDS, MockOpenAI, chat_reply, count_words

TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}


class Upstreams(GatewayProcess):
    azure: MockAzure
    mistral: MockMistral
    selfhosted: MockOpenAI
    access_log_path: Path

    def log_line(self, request_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            text = self.access_log_path.read_text() if self.access_log_path.exists() else ""
            return next((o for o in json_lines(text) if o.get("client_request_id") == request_id), None)

        line = wait_until(find, 5.0)
        assert line, f"no access-log line for {request_id}"
        return line


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    azure, mistral, selfhosted = MockAzure().start(), MockMistral().start(), MockOpenAI().start()
    workdir = tmp_path_factory.mktemp("azure-mistral-gw")
    timeouts = {"connect": 2, "first_byte": 10, "idle": 10, "total": 30}
    config = {
        "server": {"host": "127.0.0.1", "workers": 1, "access_log": str(workdir / "access.jsonl")},
        "keys": [{"id": "team-b", "key": TEAM_B_KEY, "tenant": "globex"}],
        "providers": [
            {
                "name": "azure",
                "type": "azure",
                "base_url": azure.base_url,
                "api_version": "2024-10-21",
                "api_key": AZURE_KEY,
                "timeouts": timeouts,
            },
            {
                "name": "azure-entra",
                "type": "azure",
                "base_url": azure.base_url,
                "api_version": "2024-10-21",
                "azure_ad_token": AD_TOKEN,
            },
            {
                "name": "mistral",
                "type": "mistral",
                "base_url": mistral.base_url,
                "api_key": MISTRAL_KEY,
                "timeouts": timeouts,
            },
            {"name": "vllm", "type": "openai", "base_url": selfhosted.base_url, "api_key": DEFAULT_API_KEY},
        ],
        "models": [
            {"name": "az-gpt", "provider": "azure", "upstream_model": "mock-gpt"},
            {"name": "az-entra", "provider": "azure-entra", "upstream_model": "mock-gpt"},
            {"name": "az-filtered", "provider": "azure", "upstream_model": "mock-prompt-filtered"},
            {"name": "az-429", "provider": "azure", "upstream_model": "mock-429"},
            {"name": "az-embed", "provider": "azure", "upstream_model": "mock-embed", "type": "embedding"},
            {"name": "mistral-small", "provider": "mistral", "upstream_model": "mock-gpt"},
            {"name": "mistral-429", "provider": "mistral", "upstream_model": "mock-429"},
            {
                "name": "mistral-embed",
                "provider": "mistral",
                "upstream_model": "mock-embed",
                "type": "embedding",
            },
            {"name": "llama-local", "provider": "vllm", "upstream_model": "mock-no-usage"},
        ],
    }
    gw = Upstreams(workdir, config)
    gw.azure, gw.mistral, gw.selfhosted = azure, mistral, selfhosted
    gw.access_log_path = workdir / "access.jsonl"
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()
        for mock in (azure, mistral, selfhosted):
            mock.stop()


@pytest.fixture
def client(gw: Upstreams) -> Iterator[openai.OpenAI]:
    c = make_client(gw)
    try:
        yield c
    finally:
        c.close()


def _msgs(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


# ------------------------------------------------------------------------------------------ Azure


@pytest.mark.parametrize("model", ["az-gpt", "az-entra"])
def test_azure_chat(client: openai.OpenAI, gw: Upstreams, model: str) -> None:
    r = client.chat.completions.create(model=model, messages=_msgs(f"hello {model}"))
    assert r.choices[0].message.content == chat_reply(_msgs(f"hello {model}"))
    assert (r.choices[0].model_extra or {})["content_filter_results"] == CHOICE_FILTERS
    req = gw.azure.requests()[-1]
    assert req["path"] == "/openai/deployments/mock-gpt/chat/completions?api-version=2024-10-21"
    auth = ("api-key", AZURE_KEY) if model == "az-gpt" else ("authorization", f"Bearer {AD_TOKEN}")
    assert req["headers"][auth[0]] == auth[1]


def test_azure_stream_and_tools(client: openai.OpenAI) -> None:
    with client.chat.completions.create(
        model="az-gpt", messages=_msgs("stream azure"), stream=True, stream_options={"include_usage": True}
    ) as s:
        chunks = list(s)
    assert chunks[0].choices == [] and (chunks[0].model_extra or {}).get("prompt_filter_results")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == chat_reply(
        _msgs("stream azure")
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == count_words(
        chat_reply(_msgs("stream azure"))
    )
    with client.chat.completions.create(
        model="az-gpt", messages=_msgs("tool"), tools=[TOOL], stream=True
    ) as s:  # type: ignore[list-item]
        tool_chunks = [c for c in s if c.choices]
    assert tool_chunks[0].choices[0].delta.tool_calls is not None
    assert tool_chunks[-1].choices[0].finish_reason == "tool_calls"


def test_azure_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="az-filtered", messages=_msgs("x"))
    assert isinstance(bad.value.body, dict) and bad.value.body["code"] == "content_policy_violation"
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="az-429", messages=_msgs("x"), stream=True)
    assert limited.value.response.headers.get("retry-after") == RETRY_AFTER_SECONDS
    assert isinstance(limited.value.body, dict) and limited.value.body["code"] == "rate_limit_exceeded"


def test_azure_embeddings(client: openai.OpenAI, gw: Upstreams) -> None:
    r = client.embeddings.create(model="az-embed", input="embed me", dimensions=4)
    assert len(r.data[0].embedding) == 4
    assert (
        gw.azure.requests()[-1]["path"] == "/openai/deployments/mock-embed/embeddings?api-version=2024-10-21"
    )


# ---------------------------------------------------------------------------------------- Mistral


def test_mistral_chat_and_stream(client: openai.OpenAI, gw: Upstreams) -> None:
    r = client.chat.completions.create(
        model="mistral-small", messages=_msgs("bonjour"), seed=5, max_completion_tokens=50
    )
    assert r.choices[0].message.content == chat_reply(_msgs("bonjour"))
    sent = gw.mistral.requests()[-1]["body"]
    assert (sent["random_seed"], sent["max_tokens"]) == (5, 50) and "seed" not in sent
    with client.chat.completions.create(
        model="mistral-small",
        messages=[*_msgs("bonjour"), r.choices[0].message, *_msgs("encore")],  # type: ignore[list-item]
        stream=True,
        extra_headers={"X-Request-ID": "mistral-stream-1"},
    ) as s:
        chunks = list(s)
    expected = chat_reply(_msgs("encore"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    line = gw.log_line("mistral-stream-1")
    assert (line["completion_tokens"], line["usage_estimated"]) == (count_words(expected), False)


def test_mistral_tools_required(client: openai.OpenAI, gw: Upstreams) -> None:
    r = client.chat.completions.create(
        model="mistral-small", messages=_msgs("tool"), tools=[TOOL], tool_choice="required"
    )  # type: ignore[list-item]
    assert r.choices[0].finish_reason == "tool_calls" and r.choices[0].message.tool_calls
    assert gw.mistral.requests()[-1]["body"]["tool_choice"] == "any"


def test_mistral_errors_and_embeddings(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="mistral-429", messages=_msgs("x"))
    assert limited.value.response.headers.get("retry-after") == RETRY_AFTER_SECONDS
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="mistral-small", messages=_msgs("x"), logprobs=True)
    assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "logprobs"
    r = client.embeddings.create(model="mistral-embed", input=["a b c"], dimensions=4)
    assert len(r.data[0].embedding) == 4 and r.usage.prompt_tokens == 3


# ----------------------------------------------------------------------------- self-hosted (vLLM)


def test_selfhosted_stream_without_usage_is_counted(client: openai.OpenAI, gw: Upstreams) -> None:
    with client.chat.completions.create(
        model="llama-local",
        messages=_msgs("no usage from this server"),
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Request-ID": "selfhosted-no-usage-1"},
    ) as s:
        chunks = list(s)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == chat_reply(_msgs("no usage from this server"))
    assert all(c.usage is None for c in chunks), "the upstream sent none and the gateway invents none"
    line = gw.log_line("selfhosted-no-usage-1")
    assert line["status"] == 200 and line["usage_estimated"] is True
    assert line["completion_tokens"] == (len(text) + 3) // 4
    assert json.loads(json.dumps(gw.selfhosted.requests()[-1]["body"]))["stream_options"] == {
        "include_usage": True
    }
