"""Routing end to end with the openai SDK through `brutor serve`: fallback between deployments (also for
streams, before the first byte), the breaker ejecting a failing deployment, a terminal error after the
first byte, Vault-held upstream keys rotated without a restart, and transforms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from e2e_support import GatewayProcess, auth, make_client, sse_data
from mock_openai import MockOpenAI, chat_reply
from vault_kv2 import VaultKv2

KEY = "sk-routing-e2e-0123456789"
VAULT_TOKEN = "hvs.routing-token-0123456789"
KEY_V1 = "sk-upstream-rotating-v1-aaaa"
KEY_V2 = "sk-upstream-rotating-v2-bbbb"
MSGS = [{"role": "user", "content": "route this"}]


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayProcess, MockOpenAI, MockOpenAI, VaultKv2]]:
    bad = MockOpenAI(api_key="sk-upstream-bad-0000").start()
    good = MockOpenAI(api_key=KEY_V1).start()
    vault = VaultKv2(VAULT_TOKEN)
    vault.put("llm/good", {"api_key": KEY_V1})
    root = tmp_path_factory.mktemp("routing")
    cfg = {
        "server": {"data_dir": str(root / "data"), "access_log": "off"},
        "vault": {"url": vault.url, "token": VAULT_TOKEN, "refresh_seconds": 1},
        "keys": [{"id": "r", "key": KEY, "tenant": "t"}],
        "routing": {"backoff_ms": 1, "breaker": {"failures": 3, "open_seconds": 60}},
        "providers": [
            {"name": "bad", "type": "openai", "base_url": bad.base_url, "api_key": "sk-upstream-bad-0000"},
            {
                "name": "good",
                "type": "openai",
                "base_url": good.base_url,
                "api_key": "vault:llm/good#api_key",
            },
        ],
        "models": [
            {
                "name": "ha",
                "deployments": [
                    {"provider": "bad", "upstream_model": "mock-500", "weight": 1000},
                    {"provider": "good", "upstream_model": "gpt-4o-mini", "weight": 1},
                ],
            },
            {"name": "fragile", "provider": "good", "upstream_model": "mock-die-midstream"},
            {
                "name": "shaped",
                "provider": "good",
                "upstream_model": "gpt-4o-mini",
                "transforms": {
                    "defaults": {"temperature": 0.1},
                    "drop": ["logprobs"],
                    "system_prefix": "Be brief.",
                    "headers": {"x-team": "blue"},
                },
            },
        ],
    }
    gw = GatewayProcess(root, cfg)
    gw.start()
    try:
        yield gw, bad, good, vault
    finally:
        gw.stop()
        bad.stop()
        good.stop()
        vault.close()


def test_fallback_and_breaker(setup: Any) -> None:
    gw, bad, _, _ = setup
    bad.reset()
    with make_client(gw, KEY) as client:
        for _ in range(3):
            reply = client.chat.completions.create(model="ha", messages=MSGS)
            assert reply.choices[0].message.content == chat_reply(MSGS)
        # Three failures ejected `bad`: the next requests go straight to `good`.
        tried = len(bad.requests())
        assert tried == 3
        for _ in range(3):
            client.chat.completions.create(model="ha", messages=MSGS)
        assert len(bad.requests()) == tried


def test_stream_fallback_before_the_first_byte(setup: Any) -> None:
    gw, _, _, _ = setup
    with make_client(gw, KEY) as client:
        stream = client.chat.completions.create(model="ha", messages=MSGS, stream=True)
        with stream:
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == chat_reply(MSGS)


def test_failure_after_the_first_byte_is_a_terminal_error(setup: Any) -> None:
    gw, _, _, _ = setup
    resp = gw.request(
        "POST", "/v1/chat/completions", {"model": "fragile", "messages": MSGS, "stream": True}, auth(KEY)
    )
    events = sse_data(resp.body)
    assert "[DONE]" not in events
    assert any('"error"' in e for e in events)
    with make_client(gw, KEY) as client, pytest.raises(openai.APIError):
        stream = client.chat.completions.create(model="fragile", messages=MSGS, stream=True)
        with stream:
            for _ in stream:
                pass


def test_transforms_reach_the_upstream(setup: Any) -> None:
    gw, _, good, _ = setup
    good.reset()
    with make_client(gw, KEY) as client:
        client.chat.completions.create(model="shaped", messages=MSGS, logprobs=True)
    sent = [r for r in good.requests() if r["path"].endswith("/chat/completions")][-1]
    body = sent["body"] if isinstance(sent["body"], dict) else __import__("json").loads(sent["body"])
    assert body["temperature"] == 0.1 and "logprobs" not in body
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["headers"]["x-team"] == "blue"


def test_vault_key_rotation_without_restart(setup: Any) -> None:
    gw, _, good, vault = setup
    with make_client(gw, KEY) as client:
        assert client.chat.completions.create(model="shaped", messages=MSGS).choices
        # Rotate: the upstream accepts only the new key from now on, and Vault serves it.
        good.server.api_key = KEY_V2
        vault.put("llm/good", {"api_key": KEY_V2})
        deadline = time.monotonic() + 5
        while True:
            try:
                client.chat.completions.create(model="shaped", messages=MSGS)
                break
            except openai.APIStatusError:
                assert time.monotonic() < deadline, "rotated key not used within 5 s"
                time.sleep(0.1)
    logs = gw.stdout() + gw.stderr()
    assert KEY_V1 not in logs and KEY_V2 not in logs and VAULT_TOKEN not in logs
    assert "credential vault:llm/good#api_key rotated" in logs
