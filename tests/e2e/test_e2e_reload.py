"""Config reload without restart: a revoked key stops working, a new key works, within 2 s; an invalid
edit changes nothing; sections that need a restart are named in the log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from e2e_support import GatewayProcess

CHAT = "/v1/chat/completions"
BODY = {"model": "offline/echo", "messages": [{"role": "user", "content": "hi"}]}
KEY_A, KEY_B, KEY_C = "sk-reload-a-0123456789", "sk-reload-b-0123456789", "sk-reload-c-0123456789"


def config(
    keys: list[dict[str, Any]], *, extra_model: bool = False, extra_provider: bool = False
) -> dict[str, Any]:
    models = [{"name": "offline/echo", "provider": "offline"}]
    if extra_model:
        models.append({"name": "offline/other", "provider": "offline"})
    providers = [{"name": "offline", "type": "offline"}]
    if extra_provider:
        providers.append({"name": "offline-2", "type": "offline"})
    return {
        "server": {"access_log": "off"},
        "keys": keys,
        "providers": providers,
        "models": models,
    }


def status(gw: GatewayProcess, key: str) -> int:
    return gw.request("POST", CHAT, BODY, {"Authorization": f"Bearer {key}"}).status


def eventually(gw: GatewayProcess, key: str, expected: int, within: float = 2.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if status(gw, key) == expected:
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"{key[:12]}… did not get {expected} within {within}s")


def test_keys_reload_within_two_seconds(tmp_path: Path) -> None:
    a = {"id": "a", "key": KEY_A, "tenant": "t"}
    b = {"id": "b", "key": KEY_B, "tenant": "t"}
    gw = GatewayProcess(tmp_path, config([a, b])).start()
    path = gw.config_path
    assert path is not None
    try:
        assert status(gw, KEY_A) == status(gw, KEY_B) == 200
        assert status(gw, KEY_C) == 401
        # Revoke b, add c.
        path.write_text(
            yaml.safe_dump(config([a, {**b, "revoked": True}, {"id": "c", "key": KEY_C, "tenant": "t"}]))
        )
        eventually(gw, KEY_B, 401)
        eventually(gw, KEY_C, 200)
        assert status(gw, KEY_A) == 200
        # A broken edit is refused as a whole: the running keys stay.
        path.write_text("keys: [{id: x}]\n")
        time.sleep(1.6)
        assert status(gw, KEY_C) == 200 and status(gw, KEY_B) == 401
        assert "config reload skipped" in gw.stderr() and "keys.0.tenant" in gw.stderr()
        # A new model is served without a restart.
        path.write_text(
            yaml.safe_dump(config([a, {"id": "c", "key": KEY_C, "tenant": "t"}], extra_model=True))
        )
        deadline = time.monotonic() + 2
        other = {**BODY, "model": "offline/other"}
        while gw.request("POST", CHAT, other, {"Authorization": f"Bearer {KEY_A}"}).status != 200:
            assert time.monotonic() < deadline, "new model not served within 2 s"
            time.sleep(0.05)
        # A section that needs a restart is named, and key changes in the same edit still apply.
        path.write_text(yaml.safe_dump(config([a], extra_model=True, extra_provider=True)))
        eventually(gw, KEY_C, 401)
        deadline = time.monotonic() + 2
        while "restart needed for: providers" not in gw.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "restart needed for: providers" in gw.stderr()
        assert KEY_C not in gw.stderr() + gw.stdout()
    finally:
        gw.stop()
