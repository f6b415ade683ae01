"""Client errors: OpenAI-shaped bodies, the right status codes, SDK exception classes, request ids."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from e2e_support import (
    MAX_BODY_BYTES,
    TEAM_B_KEY,
    assert_openai_error,
    auth,
    make_client,
    offline_pieces,
    sse_data,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CHAT = "/v1/chat/completions"
OK_MESSAGES = [{"role": "user", "content": "hi"}]


# ------------------------------------------------------------------------------------ SDK classes


def test_sdk_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="offline/echo", messages=OK_MESSAGES, extra_body={"stream": "yes"}
        )
    assert exc.value.status_code == 400
    assert isinstance(exc.value.body, dict)
    assert exc.value.body["type"] == "invalid_request_error"
    assert exc.value.body["param"] == "stream"


def test_sdk_authentication_error(gateway: Any) -> None:
    bad = make_client(gateway, "sk-wrong-key-presented-by-client-999")
    with bad, pytest.raises(openai.AuthenticationError) as exc:
        bad.chat.completions.create(model="offline/echo", messages=OK_MESSAGES)
    assert exc.value.status_code == 401
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "invalid_api_key"
    assert "sk-wrong-key-presented-by-client-999" not in exc.value.response.text


def test_sdk_permission_denied(client_a: openai.OpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError) as exc:
        client_a.chat.completions.create(model="no-usage", messages=OK_MESSAGES)
    assert exc.value.status_code == 403
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "model_not_allowed"
    # also for embeddings and for streams
    with pytest.raises(openai.PermissionDeniedError):
        client_a.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.PermissionDeniedError):
        client_a.chat.completions.create(model="broken", messages=OK_MESSAGES, stream=True)


def test_sdk_not_found_model(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="no-such-model", messages=OK_MESSAGES)
    assert exc.value.status_code == 404
    assert isinstance(exc.value.body, dict) and exc.value.body["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as exc2:
        client.embeddings.create(model="no-such-embedder", input="x")
    assert isinstance(exc2.value.body, dict) and exc2.value.body["code"] == "model_not_found"


# ------------------------------------------------------------------------------------ raw HTTP


def test_malformed_json(gateway: Any) -> None:
    for raw in (b'{"model": "offline/echo", "messages": [', b"not json at all", b"\xff\xfe{}", b""):
        resp = gateway.request("POST", CHAT, raw, {**auth(TEAM_B_KEY), "Content-Type": "application/json"})
        assert_openai_error(resp, 400, "invalid_json")


def test_json_not_an_object(gateway: Any) -> None:
    for raw in ("[]", "42", '"a string"', "null"):
        resp = gateway.request(
            "POST", CHAT, raw.encode(), {**auth(TEAM_B_KEY), "Content-Type": "application/json"}
        )
        assert_openai_error(resp, 400)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": OK_MESSAGES}, "model"),
        ({"model": "offline/echo"}, "messages"),
        ({"model": "offline/echo", "messages": "hello"}, "messages"),
        ({"model": "offline/echo", "messages": {"role": "user"}}, "messages"),
        ({"model": "offline/echo", "messages": OK_MESSAGES, "stream": "true"}, "stream"),
        ({"model": "offline/echo", "messages": OK_MESSAGES, "stream": 1}, "stream"),
        ({"model": 123, "messages": OK_MESSAGES}, "model"),
    ],
)
def test_invalid_fields(gateway: Any, body: dict[str, Any], param: str) -> None:
    resp = gateway.request("POST", CHAT, body, auth(TEAM_B_KEY))
    err = assert_openai_error(resp, 400, type_="invalid_request_error")
    assert err["param"] == param


def test_embeddings_invalid_fields(gateway: Any) -> None:
    resp = gateway.request("POST", "/v1/embeddings", {"input": "x"}, auth(TEAM_B_KEY))
    err = assert_openai_error(resp, 400, type_="invalid_request_error")
    assert err["param"] == "model"
    resp = gateway.request("POST", "/v1/embeddings", {"input": "x", "model": "offline/embed", "x": 1}, {})
    assert_openai_error(resp, 401, "invalid_api_key")


def test_missing_and_invalid_keys(gateway: Any) -> None:
    body = {"model": "offline/echo", "messages": OK_MESSAGES}
    assert_openai_error(gateway.request("POST", CHAT, body), 401, "invalid_api_key")
    for headers in (
        auth("sk-nope-nope-nope-nope"),
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TEAM_B_KEY}x"},
        {"Authorization": f"Bearer {TEAM_B_KEY[:-1]}"},
        {"api-key": "sk-nope-nope-nope-nope"},
    ):
        resp = gateway.request("POST", CHAT, body, headers)
        assert_openai_error(resp, 401, "invalid_api_key")


def test_auth_checked_before_body(gateway: Any) -> None:
    """No key + malformed body: the caller learns nothing but 401."""
    resp = gateway.request("POST", CHAT, b"{broken", {"Content-Type": "application/json"})
    assert_openai_error(resp, 401, "invalid_api_key")


def test_api_key_header_accepted(gateway: Any) -> None:
    resp = gateway.request(
        "POST", CHAT, {"model": "offline/echo", "messages": OK_MESSAGES}, {"api-key": TEAM_B_KEY}
    )
    assert resp.status == 200, resp
    assert resp.json()["choices"][0]["message"]["content"].endswith("You said: hi")


def test_unknown_path_404(gateway: Any) -> None:
    for path in ("/v1/nope", "/v2/chat/completions", "/"):
        resp = gateway.request("POST", path, {"a": 1}, auth(TEAM_B_KEY))
        assert_openai_error(resp, 404)
    assert_openai_error(gateway.request("GET", "/v1/does/not/exist", headers=auth(TEAM_B_KEY)), 404)


def test_wrong_method_405(gateway: Any) -> None:
    assert_openai_error(gateway.request("GET", CHAT, headers=auth(TEAM_B_KEY)), 405)
    assert_openai_error(gateway.request("DELETE", "/v1/embeddings", headers=auth(TEAM_B_KEY)), 405)
    assert_openai_error(gateway.request("POST", "/v1/models", {}, auth(TEAM_B_KEY)), 405)


def test_body_too_large_413(gateway: Any) -> None:
    big = {"model": "offline/echo", "messages": [{"role": "user", "content": "x" * (MAX_BODY_BYTES + 10)}]}
    resp = gateway.request("POST", CHAT, big, auth(TEAM_B_KEY))
    assert_openai_error(resp, 413, "request_too_large")
    # just under the limit still works
    fits = {"model": "offline/echo", "messages": [{"role": "user", "content": "y" * (MAX_BODY_BYTES - 200)}]}
    assert gateway.request("POST", CHAT, fits, auth(TEAM_B_KEY)).status == 200


def test_body_too_large_chunked_413(gateway: Any) -> None:
    """A body without Content-Length (chunked) is limited too."""
    big = json.dumps(
        {"model": "offline/echo", "messages": [{"role": "user", "content": "z" * (4 * MAX_BODY_BYTES)}]}
    )
    resp = gateway.request(
        "POST", CHAT, big.encode(), {**auth(TEAM_B_KEY), "Content-Type": "application/json"}, chunked=True
    )
    assert_openai_error(resp, 413, "request_too_large")
    small = json.dumps({"model": "offline/echo", "messages": OK_MESSAGES}).encode()
    resp = gateway.request(
        "POST", CHAT, small, {**auth(TEAM_B_KEY), "Content-Type": "application/json"}, chunked=True
    )
    assert resp.status == 200, resp


# ------------------------------------------------------------------------------------ health, request ids


def test_health_endpoints_need_no_auth(gateway: Any) -> None:
    assert gateway.request("GET", "/healthz").status == 200
    assert gateway.request("GET", "/readyz").status == 200


def test_every_response_has_request_id(gateway: Any) -> None:
    cases = [
        gateway.request("GET", "/healthz"),
        gateway.request("GET", "/readyz"),
        gateway.request("GET", "/v1/models", headers=auth(TEAM_B_KEY)),
        gateway.request("POST", CHAT, {"model": "offline/echo", "messages": OK_MESSAGES}, auth(TEAM_B_KEY)),
        gateway.request(
            "POST", CHAT, {"model": "offline/echo", "messages": OK_MESSAGES, "stream": True}, auth(TEAM_B_KEY)
        ),
        gateway.request("POST", CHAT, {"model": "offline/echo", "messages": OK_MESSAGES}),
        gateway.request("POST", CHAT, b"{", auth(TEAM_B_KEY)),
        gateway.request("GET", "/nowhere"),
        gateway.request("GET", CHAT, headers=auth(TEAM_B_KEY)),
        gateway.request("POST", "/v1/embeddings", {"model": "offline/embed", "input": "x"}, auth(TEAM_B_KEY)),
    ]
    missing = [r for r in cases if not r.headers.get("x-request-id")]
    assert not missing, f"responses without x-request-id: {missing}"
    ids = [r.headers["x-request-id"] for r in cases]
    assert len(set(ids)) == len(ids), "request ids must be unique per request"


def test_client_request_id_echoed(client: openai.OpenAI, gateway: Any) -> None:
    rid = "e2e-req_0001.ABC-xyz"
    resp = gateway.request(
        "POST",
        CHAT,
        {"model": "offline/echo", "messages": OK_MESSAGES},
        {**auth(TEAM_B_KEY), "X-Request-ID": rid},
    )
    assert resp.headers.get("x-request-id") == rid
    raw = client.chat.completions.with_raw_response.create(
        model="offline/echo", messages=OK_MESSAGES, extra_headers={"X-Request-ID": "sdk-req-42"}
    )
    assert raw.headers.get("x-request-id") == "sdk-req-42"
    assert raw.parse().choices[0].message.content


@pytest.mark.parametrize("bad", ["x" * 1000, "<script>alert(1)</script>", "a b c", "id;rm -rf /"])
def test_insane_client_request_id_replaced(gateway: Any, bad: str) -> None:
    resp = gateway.request("GET", "/v1/models", headers={**auth(TEAM_B_KEY), "X-Request-ID": bad})
    assert resp.status == 200
    rid = resp.headers.get("x-request-id")
    assert rid and rid != bad
    assert len(rid) <= 200


def test_no_traceback_on_garbage_headers(gateway: Any) -> None:
    resp = gateway.request(
        "POST",
        CHAT,
        {"model": "offline/echo", "messages": OK_MESSAGES},
        {**auth(TEAM_B_KEY), "Content-Type": "text/plain"},
    )
    # Whatever the gateway decides about a wrong content-type, it must be a clean answer.
    assert resp.status in (200, 400, 415), resp
    if resp.status != 200:
        assert_openai_error(resp, resp.status)


# ------------------------------------------------------------------------------------ property-based

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "assistant", "tool", "bogus"]) | _json,
        "content": st.text(max_size=30) | _json,
    }
)
_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["offline/echo", "nope", "offline/embed", ""]) | _json,
        "messages": st.lists(_message, max_size=3) | _json,
        "temperature": _json,
        "extra": _json,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_fuzz_chat_bodies_never_5xx(gateway: Any, body: dict[str, Any]) -> None:
    resp = gateway.request("POST", CHAT, body, auth(TEAM_B_KEY))
    assert resp.status < 500, (body, resp)
    assert "traceback" not in resp.text.lower()
    if resp.status == 200:
        assert resp.json()["object"] == "chat.completion"
    else:
        assert_openai_error(resp, resp.status)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    words=st.lists(
        st.text(alphabet=st.characters(categories=["L", "N", "P", "S"]), min_size=1, max_size=8),
        min_size=1,
        max_size=12,
    )
)
def test_property_offline_answer_and_usage(gateway: Any, words: list[str]) -> None:
    text = " ".join(words)
    body = {"model": "offline/echo", "messages": [{"role": "user", "content": text}]}
    resp = gateway.request("POST", CHAT, body, auth(TEAM_B_KEY))
    assert resp.status == 200, resp
    data = resp.json()
    answer = "This is Brutor's offline model. You said: " + text
    assert data["choices"][0]["message"]["content"] == answer
    assert data["usage"]["prompt_tokens"] == len(text.split())
    assert data["usage"]["completion_tokens"] == len(answer.split())
    # the stream carries the same answer, one word per chunk
    resp = gateway.request("POST", CHAT, {**body, "stream": True}, auth(TEAM_B_KEY))
    events = sse_data(resp.body)
    assert events[-1] == "[DONE]"
    pieces = [json.loads(e)["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert [p for p in pieces if p] == offline_pieces(answer)
