"""End to end: the openai SDK -> ``brutor serve`` -> the mock Vertex AI (and its OAuth endpoint).

The gateway signs a JWT with the test service account's RSA key (google-auth's real JWT-bearer grant),
the mock verifies it and issues a token, and every chat/stream/tool/error path is checked as a client
sees it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from e2e_support import TEAM_B_KEY, GatewayProcess, json_lines, make_client, sse_request, wait_until
from mock_vertex import MODEL_PREFIX, RETRY_AFTER_SECONDS, THOUGHT_SIGNATURE, MockVertex

MODELS = {
    "gemini": "gemini-mock",
    "gemini-thinking": "gemini-thinking",
    "gemini-429": "gemini-429",
    "gemini-500": "gemini-500",
    "gemini-blocked-prompt": "gemini-blocked-prompt",
    "gemini-blocked-answer": "gemini-blocked-answer",
    "gemini-die": "gemini-die-midstream",
    "gemini-no-usage": "gemini-no-usage",
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


class VertexGateway(GatewayProcess):
    mock: MockVertex
    access_log_path: Path

    def log_line(self, request_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            text = self.access_log_path.read_text() if self.access_log_path.exists() else ""
            lines = [o for o in json_lines(text) if o.get("client_request_id") == request_id]
            return lines[0] if lines else None

        line = wait_until(find, 5.0)
        assert line, f"no access-log line for {request_id}"
        return line


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VertexGateway]:
    mock = MockVertex().start()
    workdir = tmp_path_factory.mktemp("vertex-gw")
    sa = workdir / "service-account.json"
    sa.write_text(json.dumps(mock.service_account()))
    models = [{"name": name, "provider": "vertex", "upstream_model": up} for name, up in MODELS.items()]
    models.append(
        {
            "name": "vertex-embed",
            "provider": "vertex",
            "upstream_model": "text-embedding-005",
            "type": "embedding",
        }
    )
    config = {
        "server": {"host": "127.0.0.1", "workers": 1, "access_log": str(workdir / "access.jsonl")},
        "keys": [{"id": "team-b", "key": TEAM_B_KEY, "tenant": "globex"}],
        "providers": [
            {
                "name": "vertex",
                "type": "vertex",
                "project": "mock-project",
                "region": "us-central1",
                "base_url": mock.base_url,
                "credentials_file": str(sa),
                "timeouts": {"connect": 2, "first_byte": 10, "idle": 10, "total": 30},
            }
        ],
        "models": models,
    }
    gw = VertexGateway(workdir, config)
    gw.mock, gw.access_log_path = mock, workdir / "access.jsonl"
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()
        mock.stop()


@pytest.fixture
def client(gw: VertexGateway) -> Iterator[openai.OpenAI]:
    c = make_client(gw)
    try:
        yield c
    finally:
        c.close()


def _msgs(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]


def test_chat(client: openai.OpenAI, gw: VertexGateway) -> None:
    r = client.chat.completions.create(model="gemini", messages=_msgs("hello vertex"))  # type: ignore[arg-type]
    assert r.choices[0].message.content == "Mock reply to: hello vertex"
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and (r.usage.prompt_tokens, r.usage.completion_tokens) == (5, 5)
    req = gw.mock.requests()[-1]
    assert req["path"] == MODEL_PREFIX + "gemini-mock:generateContent"
    assert req["body"]["systemInstruction"] == {"parts": [{"text": "You are terse."}]}


def test_stream_with_and_without_usage(client: openai.OpenAI, gw: VertexGateway) -> None:
    stream = client.chat.completions.create(
        model="gemini",
        messages=_msgs("stream me please"),  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Request-ID": "vertex-stream-usage-1"},
    )
    with stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock reply to: stream me please"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (6, 6)
    line = gw.log_line("vertex-stream-usage-1")
    assert (line["prompt_tokens"], line["completion_tokens"], line["usage_estimated"]) == (6, 6, False)
    assert line["status"] == 200 and line["stream"] is True
    resp, events = sse_request(
        gw.port, {"model": "gemini", "messages": _msgs("raw"), "stream": True}, TEAM_B_KEY
    )
    assert resp.status == 200 and events[-1] == "[DONE]" and events.count("[DONE]") == 1
    assert all(json.loads(e)["choices"] for e in events[:-1]), "no usage chunk unless asked"


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(client: openai.OpenAI, gw: VertexGateway, stream: bool) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    if stream:
        with client.chat.completions.create(
            model="gemini-thinking",
            messages=messages,
            tools=[WEATHER],
            stream=True,  # type: ignore[list-item]
        ) as s:
            chunks = list(s)
        [call] = chunks[0].choices[0].delta.tool_calls or []
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
        assert call.function is not None and call.function.name == "get_weather"
        assistant: Any = {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                    "extra_content": (call.model_extra or {}).get("extra_content"),
                }
            ],
        }
        call_id = call.id
    else:
        r = client.chat.completions.create(model="gemini-thinking", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
        assert r.choices[0].finish_reason == "tool_calls"
        [tool_call] = r.choices[0].message.tool_calls or []
        assert tool_call.function.arguments == '{"city":"mock"}'  # type: ignore[union-attr]
        assistant, call_id = r.choices[0].message, tool_call.id  # the SDK's own object, as clients append it
    messages += [assistant, {"role": "tool", "tool_call_id": call_id, "content": '{"temp_c": 21}'}]
    r = client.chat.completions.create(model="gemini-thinking", messages=messages, tools=[WEATHER])  # type: ignore[arg-type]
    assert r.choices[0].message.content == 'Tool said: [{"temp_c": 21}]'
    sent = gw.mock.requests()[-1]["body"]["contents"]
    assert sent[1]["parts"][0]["thoughtSignature"] == THOUGHT_SIGNATURE, "the signature went back to Gemini"
    assert sent[2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}],
    }


def test_json_schema_and_image(client: openai.OpenAI, gw: VertexGateway) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string"}, "n": {"type": "integer"}}}
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    r = client.chat.completions.create(
        model="gemini",
        messages=[{"role": "user", "content": content}],  # type: ignore[misc,list-item]
        response_format={"type": "json_schema", "json_schema": {"name": "d", "schema": schema}},
        n=2,
    )
    assert [json.loads(c.message.content or "") for c in r.choices] == [{"colour": "mock", "n": 1}] * 2
    assert [c.index for c in r.choices] == [0, 1]
    body = gw.mock.requests()[-1]["body"]
    assert body["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}
    }
    assert body["generationConfig"] == {
        "candidateCount": 2,
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


@pytest.mark.parametrize("stream", [False, True])
def test_rate_limit_and_server_error(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as exc:
        client.chat.completions.create(model="gemini-429", messages=_msgs("x"), stream=stream)  # type: ignore[call-overload]
    assert exc.value.response.headers.get("retry-after") == RETRY_AFTER_SECONDS
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="gemini-500", messages=_msgs("x"), stream=stream)  # type: ignore[call-overload]
    assert isinstance(err.value.body, dict) and err.value.body["type"] == "server_error"


@pytest.mark.parametrize("stream", [False, True])
def test_blocked_prompt_is_a_400(client: openai.OpenAI, stream: bool) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="gemini-blocked-prompt", messages=_msgs("x"), stream=stream)  # type: ignore[call-overload]
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "content_policy_violation"


def test_blocked_answer_is_content_filter(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="gemini-blocked-answer", messages=_msgs("x"))  # type: ignore[arg-type]
    assert r.choices[0].finish_reason == "content_filter" and r.choices[0].message.content is None
    with client.chat.completions.create(
        model="gemini-blocked-answer", messages=_msgs("x y"), stream=True
    ) as s:  # type: ignore[arg-type]
        chunks = list(s)
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_stream_cut_by_upstream_ends_with_an_error_event(gw: VertexGateway, client: openai.OpenAI) -> None:
    resp, events = sse_request(
        gw.port, {"model": "gemini-die", "messages": _msgs("a b c d"), "stream": True}, TEAM_B_KEY
    )
    assert resp.status == 200 and "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "upstream_stream_interrupted"
    stream = client.chat.completions.create(model="gemini-die", messages=_msgs("a b c d"), stream=True)  # type: ignore[arg-type]
    with stream, pytest.raises(openai.APIError):
        list(stream)


def test_stream_without_usage_is_estimated(client: openai.OpenAI, gw: VertexGateway) -> None:
    with client.chat.completions.create(
        model="gemini-no-usage",
        messages=_msgs("count me"),  # type: ignore[arg-type]
        stream=True,
        extra_headers={"X-Request-ID": "vertex-no-usage-1"},
    ) as s:
        text = "".join(c.choices[0].delta.content or "" for c in s if c.choices)
    line = gw.log_line("vertex-no-usage-1")
    assert line["usage_estimated"] is True and line["completion_tokens"] == (len(text) + 3) // 4


def test_embeddings(client: openai.OpenAI) -> None:
    r = client.embeddings.create(model="vertex-embed", input=["one two", "three"])
    assert [d.index for d in r.data] == [0, 1] and len(r.data[0].embedding) == 8
    assert r.usage.prompt_tokens == 3


def test_one_token_serves_every_request(client: openai.OpenAI, gw: VertexGateway) -> None:
    for i in range(3):
        client.chat.completions.create(model="gemini", messages=_msgs(f"again {i}"))  # type: ignore[arg-type]
    assert gw.mock.token_requests == 1
    assert len({r["headers"]["authorization"] for r in gw.mock.requests()}) == 1
