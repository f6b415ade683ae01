"""Access log, admin usage counters and secret hygiene of the session gateway."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest
from e2e_support import (
    ADMIN_KEY,
    BAD_UPSTREAM_KEY,
    TEAM_A_KEY,
    TEAM_B_KEY,
    TEAM_C_KEY,
    assert_openai_error,
    auth,
    json_lines,
    make_client,
    offline_answer,
    sse_request,
    wait_until,
    word_count,
)
from mock_openai import DEFAULT_API_KEY as UPSTREAM_KEY
from mock_openai import chat_reply, count_words, prompt_token_count

CHAT = "/v1/chat/completions"
REQUIRED_FIELDS = {
    "request_id",
    "tenant",
    "key_id",
    "model",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "duration_ms",
    "stream",
}


def _log_line(gateway: Any, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        lines = [o for o in json_lines(gateway.access_log()) if o.get("client_request_id") == request_id]
        return lines[0] if lines else None

    line = wait_until(find, timeout)
    assert line, f"no access-log line for {request_id}:\n{gateway.access_log()[-2000:]}"
    matches = [o for o in json_lines(gateway.access_log()) if o.get("client_request_id") == request_id]
    assert len(matches) == 1, f"expected exactly one access-log line per request, got {matches}"
    return line


def test_access_log_every_line_is_json(gateway: Any) -> None:
    gateway.request("GET", "/v1/models", headers=auth(TEAM_B_KEY))
    text = wait_until(gateway.access_log, 5)
    assert text, "access log file is empty"
    for line in text.splitlines():
        if line.strip():
            obj = json.loads(line)  # every line is a JSON object
            assert isinstance(obj, dict)


def test_access_log_non_stream_offline(gateway: Any) -> None:
    msgs = [{"role": "user", "content": "log me please"}]
    resp = gateway.request(
        "POST",
        CHAT,
        {"model": "offline/echo", "messages": msgs},
        {**auth(TEAM_A_KEY), "X-Request-ID": "log-offline-1"},
    )
    assert resp.status == 200
    line = _log_line(gateway, "log-offline-1")
    assert set(line) >= REQUIRED_FIELDS, line
    assert line["tenant"] == "acme"
    assert line["key_id"] == "team-a"
    assert line["model"] == "offline/echo"
    assert line["status"] == 200
    assert line["prompt_tokens"] == 3
    assert line["completion_tokens"] == word_count(offline_answer("log me please"))
    assert line["stream"] is False
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0


def test_access_log_stream_upstream_counts_usage(gateway: Any, mock: Any) -> None:
    """Client did not ask for usage; the gateway still accounts the upstream's usage."""
    msgs = [{"role": "user", "content": "stream log accounting"}]
    client = make_client(gateway, TEAM_B_KEY)
    with client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=msgs, stream=True, extra_headers={"X-Request-ID": "log-stream-2"}
        )
        with raw.parse() as stream:
            assert all(c.choices for c in stream)
    line = _log_line(gateway, "log-stream-2")
    assert line["tenant"] == "globex", "${VAR:-default} substitution should have given tenant globex"
    assert line["key_id"] == "team-b"
    assert line["model"] == "gpt-4o-mini", "the access log records the client's model name"
    assert line["status"] == 200
    assert line["stream"] is True
    assert line["prompt_tokens"] == prompt_token_count(msgs)
    assert line["completion_tokens"] == count_words(chat_reply(msgs))


def test_access_log_errors(gateway: Any) -> None:
    gateway.request(
        "POST",
        CHAT,
        {"model": "no-usage", "messages": [{"role": "user", "content": "x"}]},
        {**auth(TEAM_A_KEY), "X-Request-ID": "log-denied-3"},
    )
    line = _log_line(gateway, "log-denied-3")
    assert line["status"] == 403
    assert line["key_id"] == "team-a"
    gateway.request(
        "POST",
        CHAT,
        {"model": "rate-limited", "messages": [{"role": "user", "content": "x"}]},
        {**auth(TEAM_B_KEY), "X-Request-ID": "log-429-4"},
    )
    assert _log_line(gateway, "log-429-4")["status"] == 429


def test_access_log_midstream_failure_records_error_code(gateway: Any) -> None:
    resp = gateway.request(
        "POST",
        CHAT,
        {"model": "die-midstream", "messages": [{"role": "user", "content": "a b c d e f"}], "stream": True},
        {**auth(TEAM_B_KEY), "X-Request-ID": "log-midstream-5"},
    )
    assert resp.status == 200
    line = _log_line(gateway, "log-midstream-5")
    assert line["stream"] is True
    assert "upstream_stream_interrupted" in json.dumps(line), line


def test_secrets_never_logged_or_echoed(gateway: Any, mock: Any) -> None:
    presented_bad_key = "sk-wrong-key-presented-by-client-999"
    bodies: list[str] = []
    msgs = [{"role": "user", "content": "secret hygiene"}]
    for key in (TEAM_A_KEY, TEAM_B_KEY, TEAM_C_KEY):
        for model in (
            "offline/echo",
            "gpt-4o-mini",
            "broken",
            "unreachable",
            "bad-upstream-auth",
            "no-such-model",
        ):
            r = gateway.request("POST", CHAT, {"model": model, "messages": msgs}, auth(key))
            bodies.append(r.text)
            _, events = sse_request(gateway.port, {"model": model, "messages": msgs, "stream": True}, key)
            bodies.append("\n".join(events))
    for headers in (auth(presented_bad_key), {"api-key": presented_bad_key}, auth(ADMIN_KEY)):
        bodies.append(
            gateway.request("POST", CHAT, {"model": "offline/echo", "messages": msgs}, headers).text
        )
    bodies.append(gateway.request("GET", "/admin/usage", headers=auth(TEAM_A_KEY)).text)
    bodies.append(gateway.request("GET", "/admin/usage", headers=auth(presented_bad_key)).text)
    wait_until(lambda: gateway.access_log().count("\n") > 0, 3)

    secrets = {
        "team-a key": TEAM_A_KEY,
        "team-b key": TEAM_B_KEY,
        "team-c key": TEAM_C_KEY,
        "admin key": ADMIN_KEY,
        "upstream api_key": UPSTREAM_KEY,
        "bad upstream api_key": BAD_UPSTREAM_KEY,
        "key presented by a client": presented_bad_key,
    }
    sinks = {
        "stdout": gateway.stdout(),
        "stderr": gateway.stderr(),
        "access log": gateway.access_log(),
        "response bodies": "\n".join(bodies),
    }
    leaks = [
        f"{what} in {where}" for what, s in secrets.items() for where, text in sinks.items() if s in text
    ]
    assert not leaks, leaks
    # Not even a long prefix of a secret (e.g. a truncated key that still identifies it).
    for s in secrets.values():
        for where, text in sinks.items():
            assert s[:20] not in text, f"prefix of a secret in {where}"
    assert "traceback" not in sinks["response bodies"].lower()


# ------------------------------------------------------------------------------------ admin usage


def _usage(gateway: Any) -> dict[str, Any]:
    resp = gateway.request("GET", "/admin/usage?group_by=tenant", headers=auth(ADMIN_KEY))
    assert resp.status == 200, resp
    data = resp.json()
    assert data["object"] == "brutor.usage" and isinstance(data["data"], list), data
    return data


def _tenant(data: dict[str, Any], tenant: str) -> dict[str, int]:
    zero = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "errors": 0}
    row = next((r for r in data["data"] if r["group"] == tenant), {})
    return {k: row.get(k, 0) for k in zero}


def test_admin_usage_requires_admin_key(gateway: Any) -> None:
    assert_openai_error(gateway.request("GET", "/admin/usage"), 401)
    assert_openai_error(gateway.request("GET", "/admin/usage", headers=auth("sk-not-the-admin-key-0")), 401)
    resp = gateway.request("GET", "/admin/usage", headers=auth(TEAM_C_KEY))
    assert resp.status in (401, 403), "a client API key must not open the admin API"
    assert_openai_error(resp, resp.status)


def _settled(gateway: Any, tenant: str) -> dict[str, int]:
    """Usage once earlier tests' rows have reached the audit sink (it is written in batches)."""
    last = _tenant(_usage(gateway), tenant)
    for _ in range(50):
        time.sleep(0.3)
        now = _tenant(_usage(gateway), tenant)
        if now == last:
            return now
        last = now
    raise AssertionError("usage never settled")


def test_admin_usage_counts_per_tenant(gateway: Any) -> None:
    before = _settled(gateway, "initech")
    m1 = [{"role": "user", "content": "count these four words"}]
    m2 = [{"role": "system", "content": "two words"}, {"role": "user", "content": "and three more"}]
    m3 = [{"role": "user", "content": "upstream stream accounting here"}]
    client = make_client(gateway, TEAM_C_KEY)
    with client:
        client.chat.completions.create(model="offline/echo", messages=m1)
        client.chat.completions.create(model="offline/echo", messages=m2)
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=m3, stream=True)
        with stream:
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == chat_reply(m3)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="broken", messages=m1)

    expected_prompt = 4 + 5 + 4
    expected_completion = (
        word_count(offline_answer("count these four words"))
        + word_count(offline_answer("and three more"))
        + count_words(chat_reply(m3))
    )

    def delta() -> dict[str, int]:
        after = _tenant(_usage(gateway), "initech")
        return {k: after[k] - before[k] for k in before}

    want = {
        "requests": 4,
        "prompt_tokens": expected_prompt,
        "completion_tokens": expected_completion,
        "errors": 1,
    }
    assert wait_until(lambda: delta() == want, 3), f"usage delta {delta()}, expected {want}"
