"""The cache stage end to end through `brutor serve`: exact and semantic hits (with the lexical guard),
tenant isolation, bypass rules, a streamed replay of a cached answer, nothing stored after a failure,
audit rows for hits, and fail-open when the entry store is unreachable."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import GatewayProcess, auth, free_port, make_client, sse_data

KEY_A = "sk-cache-a-0123456789"
KEY_B = "sk-cache-b-0123456789"
CHAT = "/v1/chat/completions"


def config(data: Path, **cache: Any) -> dict[str, Any]:
    return {
        "server": {"data_dir": str(data), "access_log": "off"},
        "cache": {"enabled": True, **cache},
        "keys": [{"id": "a", "key": KEY_A, "tenant": "alpha"}, {"id": "b", "key": KEY_B, "tenant": "beta"}],
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [{"name": "offline/echo", "provider": "offline"}],
    }


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("cache")
    g = GatewayProcess(root, config(root / "data"))
    g.start(timeout=60)  # the first start builds the embedder's ONNX model (~2 s)
    try:
        yield g
    finally:
        g.stop()


def ask(gw: GatewayProcess, key: str, text: str, **extra: Any) -> Any:
    body = {"model": "offline/echo", "messages": [{"role": "user", "content": text}], **extra}
    return gw.request("POST", CHAT, body, auth(key))


def cache_header(resp: Any) -> str:
    return str(resp.headers.get("x-brutor-cache", ""))


def until_stored(gw: GatewayProcess, key: str, text: str) -> Any:
    deadline = time.monotonic() + 5
    while True:
        resp = ask(gw, key, text)
        if cache_header(resp).startswith("hit"):
            return resp
        assert time.monotonic() < deadline, f"never a hit: {cache_header(resp)}"
        time.sleep(0.05)


def test_exact_then_semantic_hits_and_guarded_near_misses(gw: GatewayProcess) -> None:
    first = ask(gw, KEY_A, "What is the capital of France?")
    assert first.status == 200 and cache_header(first) == "miss"
    hit = until_stored(gw, KEY_A, "What is the capital of France?")
    assert hit.json() == first.json() and "similarity=1.0000" in cache_header(hit)
    # A near-verbatim repeat (the model is uncased: this one embeds identically) hits the semantic tier
    # and gets the cached answer, which echoed the original wording.
    near = ask(gw, KEY_A, "what is the capital of France?")
    assert cache_header(near).startswith("hit; similarity="), cache_header(near)
    assert near.json() == first.json()
    other = ask(gw, KEY_A, "What is the capital of Spain?")  # a near-miss: never served the cached answer
    assert cache_header(other) == "miss" and "Spain" in other.json()["choices"][0]["message"]["content"]


def test_tenants_never_share_entries(gw: GatewayProcess) -> None:
    ask(gw, KEY_A, "How tall is Mount Everest?")
    until_stored(gw, KEY_A, "How tall is Mount Everest?")
    assert cache_header(ask(gw, KEY_B, "How tall is Mount Everest?")) == "miss"


def test_bypass_rules(gw: GatewayProcess) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert cache_header(ask(gw, KEY_A, "weather?", tools=tools)) == "bypass; reason=tools"
    assert cache_header(ask(gw, KEY_A, "weather?", n=2)) == "bypass; reason=n"
    assert cache_header(ask(gw, KEY_A, "weather?", brutor={"cache": False})) == "bypass; reason=body-flag"
    resp = gw.request(
        "POST",
        CHAT,
        {"model": "offline/echo", "messages": [{"role": "user", "content": "x"}]},
        {**auth(KEY_A), "Cache-Control": "no-cache"},
    )
    assert cache_header(resp) == "bypass; reason=no-cache"
    # Longer than the embedder's 256-token window: its end would not be embedded.
    long_question = "Please summarise this. " + " ".join(f"word{i}" for i in range(400))
    assert cache_header(ask(gw, KEY_A, long_question)) == "bypass; reason=too-long"


def test_a_stream_gets_the_cached_answer_replayed(gw: GatewayProcess) -> None:
    text = "Name three primary colours."
    whole = ask(gw, KEY_A, text).json()["choices"][0]["message"]["content"]
    until_stored(gw, KEY_A, text)
    with make_client(gw, KEY_A) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="offline/echo", messages=[{"role": "user", "content": text}], stream=True
        )
        assert raw.headers["x-brutor-cache"].startswith("hit")
        pieces = [c.choices[0].delta.content or "" for c in raw.parse() if c.choices]
    assert "".join(pieces) == whole
    resp = gw.request(
        "POST",
        CHAT,
        {"model": "offline/echo", "messages": [{"role": "user", "content": text}], "stream": True},
        auth(KEY_A),
    )
    assert sse_data(resp.body)[-1] == "[DONE]"


def test_hits_are_audited(gw: GatewayProcess) -> None:
    until_stored(gw, KEY_A, "What is the capital of France?")
    db = gw.workdir / "data" / "audit.db"
    deadline = time.monotonic() + 5
    while True:
        if db.exists():
            with sqlite3.connect(db) as conn:
                n = conn.execute("SELECT count(*) FROM audit_log WHERE cache_status = 'hit'").fetchone()[0]
            if n:
                return
        assert time.monotonic() < deadline, "no audit row for a cache hit"
        time.sleep(0.05)


def test_unreachable_store_fails_open(tmp_path: Path) -> None:
    g = GatewayProcess(
        tmp_path,
        config(
            tmp_path / "data", entries="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0", semantic=False
        ),
    )
    g.start()
    try:
        resp = ask(g, KEY_A, "still served?")
        assert resp.status == 200 and cache_header(resp) == "bypass; reason=unavailable"
        assert "cache unavailable" in g.stderr()
    finally:
        g.stop()
