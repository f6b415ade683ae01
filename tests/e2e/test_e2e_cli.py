"""The ``brutor`` CLI: ``config check``, start-up failures, embedded defaults and ``--workers``."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from e2e_support import (
    DEV_KEY,
    GatewayProcess,
    auth,
    brutor_cmd,
    clean_env,
    http_request,
    json_lines,
    make_async_client,
    make_client,
    offline_answer,
    run_cli,
    wait_until,
)

GOOD_YAML = """
server:
  host: 127.0.0.1
  access_log: "off"
keys:
  - id: ops
    key: ${BRUTOR_CLI_KEY}
    tenant: ${BRUTOR_CLI_TENANT:-ops-default}
    models: ["offline/*"]
providers:
  - name: upstream
    type: openai
    base_url: ${BRUTOR_CLI_BASE_URL:-http://127.0.0.1:9/v1}
    api_key: sk-cli-upstream-key-000000
    timeouts: {connect: 1.5, first_byte: 30, idle: 30, total: 120}
  - name: local
    type: offline
models:
  - {name: gpt-4o-mini, provider: upstream, upstream_model: mock-gpt}
  - {name: offline/echo, provider: local, type: chat}
"""

GOOD_TOML = """
[server]
host = "127.0.0.1"
access_log = "off"

[[keys]]
id = "ops"
key = "sk-cli-toml-key-1234567890"
tenant = "ops"
models = ["offline/*"]

[[providers]]
name = "local"
type = "offline"

[[providers]]
name = "upstream"
type = "openai"
base_url = "http://127.0.0.1:9/v1"
api_key = "${BRUTOR_CLI_TOML_UPSTREAM:-sk-toml-upstream-key-00000}"
timeouts = { connect = 2, first_byte = 10, idle = 10, total = 60 }

[[models]]
name = "offline/echo"
provider = "local"
type = "chat"

[[models]]
name = "gpt-4o-mini"
provider = "upstream"
upstream_model = "mock-gpt"
"""

CLI_ENV = {"BRUTOR_CLI_KEY": "sk-cli-key-from-env-123456"}


def _write(tmp_path: Path, text: str, name: str = "brutor.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _assert_clean_error(proc: subprocess.CompletedProcess[str] | Any, *needles: str) -> None:
    assert proc.returncode not in (0, None), (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, f"{needle!r} not in stderr:\n{proc.stderr}"


# ------------------------------------------------------------------------------------ config check


def test_config_check_good_yaml(tmp_path: Path) -> None:
    proc = run_cli(["config", "check", str(_write(tmp_path, GOOD_YAML))], env=CLI_ENV)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in (proc.stdout + proc.stderr).lower()


def test_config_check_good_toml(tmp_path: Path) -> None:
    proc = run_cli(["config", "check", str(_write(tmp_path, GOOD_TOML, "brutor.toml"))])
    assert proc.returncode == 0, proc.stderr
    assert "ok" in (proc.stdout + proc.stderr).lower()


def test_config_check_does_not_print_secrets(tmp_path: Path) -> None:
    proc = run_cli(["config", "check", str(_write(tmp_path, GOOD_YAML))], env=CLI_ENV)
    assert proc.returncode == 0
    out = proc.stdout + proc.stderr
    assert CLI_ENV["BRUTOR_CLI_KEY"] not in out
    assert "sk-cli-upstream-key-000000" not in out


BAD_CASES = {
    "base_url": (
        GOOD_YAML.replace("${BRUTOR_CLI_BASE_URL:-http://127.0.0.1:9/v1}", '"not a url"'),
        "providers.0.base_url",
    ),
    "provider_type": (GOOD_YAML.replace("type: openai", "type: carrier-pigeon"), "providers.0.type"),
    "max_body_bytes": (
        GOOD_YAML.replace("host: 127.0.0.1", "host: 127.0.0.1\n  max_body_bytes: lots"),
        "server.max_body_bytes",
    ),
    "unknown_provider": (GOOD_YAML.replace("provider: upstream,", "provider: nowhere,"), "models.0.provider"),
    "timeout_type": (GOOD_YAML.replace("connect: 1.5", "connect: soon"), "providers.0.timeouts.connect"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_config_check_bad_names_key_path(tmp_path: Path, case: str) -> None:
    text, key_path = BAD_CASES[case]
    assert text != GOOD_YAML
    proc = run_cli(["config", "check", str(_write(tmp_path, text))], env=CLI_ENV)
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    _assert_clean_error(proc, key_path)


def test_config_check_unset_env_var_named(tmp_path: Path) -> None:
    proc = run_cli(["config", "check", str(_write(tmp_path, GOOD_YAML))], env={})
    assert proc.returncode == 1
    _assert_clean_error(proc, "BRUTOR_CLI_KEY")


def test_config_check_yaml_syntax_error(tmp_path: Path) -> None:
    proc = run_cli(["config", "check", str(_write(tmp_path, "server: [unclosed\n  - {"))], env=CLI_ENV)
    assert proc.returncode == 1
    _assert_clean_error(proc)
    assert proc.stderr.strip()


def test_config_check_missing_file(tmp_path: Path) -> None:
    proc = run_cli(["config", "check", str(tmp_path / "absent.yaml")])
    assert proc.returncode != 0
    _assert_clean_error(proc, "absent.yaml")


def test_env_substitution_in_config(tmp_path: Path) -> None:
    """${VAR} and ${VAR:-default} are resolved: the substituted key authenticates, the tenant default holds."""
    gw = GatewayProcess(tmp_path, GOOD_YAML, env=CLI_ENV)
    gw.start()
    try:
        resp = gw.request(
            "POST",
            "/v1/chat/completions",
            {"model": "offline/echo", "messages": [{"role": "user", "content": "env works"}]},
            auth(CLI_ENV["BRUTOR_CLI_KEY"]),
        )
        assert resp.status == 200, resp
        assert resp.json()["choices"][0]["message"]["content"] == offline_answer("env works")
        # The literal placeholder is not a key.
        resp = gw.request("GET", "/v1/models", headers=auth("${BRUTOR_CLI_KEY}"))
        assert resp.status == 401
        # gpt-4o-mini exists but is outside the offline/* allow-list
        resp = gw.request(
            "POST",
            "/v1/chat/completions",
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
            auth(CLI_ENV["BRUTOR_CLI_KEY"]),
        )
        assert resp.status == 403
        # access_log: "off" → nothing JSON-per-request on stdout
        assert not [o for o in json_lines(gw.stdout()) if "request_id" in o]
    finally:
        gw.stop()


def test_serve_toml_config(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, GOOD_TOML, config_name="brutor.toml")
    gw.start()
    try:
        resp = gw.request(
            "POST",
            "/v1/chat/completions",
            {"model": "offline/echo", "messages": [{"role": "user", "content": "toml works"}]},
            auth("sk-cli-toml-key-1234567890"),
        )
        assert resp.status == 200, resp
        assert resp.json()["choices"][0]["message"]["content"] == offline_answer("toml works")
    finally:
        gw.stop()


# ------------------------------------------------------------------------------------ serve failures


def _serve_must_fail(gw: GatewayProcess, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    proc = gw.spawn()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        gw.stop()
        pytest.fail(f"brutor serve kept running; it should have refused to start\n{gw.logs()}")
    return subprocess.CompletedProcess(gw.command, proc.returncode, gw.stdout(), gw.stderr())


def test_serve_invalid_config_exits(tmp_path: Path) -> None:
    text, key_path = BAD_CASES["base_url"]
    gw = GatewayProcess(tmp_path, text, env=CLI_ENV)
    result = _serve_must_fail(gw)
    _assert_clean_error(result, key_path)
    with pytest.raises(OSError):
        http_request(gw.port, "GET", "/readyz", timeout=1)


def test_serve_unset_env_exits(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, GOOD_YAML, env={})
    _assert_clean_error(_serve_must_fail(gw), "BRUTOR_CLI_KEY")


def test_default_key_refuses_non_loopback(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, None, args=["--host", "0.0.0.0"])
    result = _serve_must_fail(gw)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip(), "the refusal should say why"


# ------------------------------------------------------------------------------------ embedded defaults


@pytest.fixture(scope="module")
def default_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(tmp_path_factory.mktemp("defaults"), None)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


def test_defaults_serve_offline_models(default_gateway: GatewayProcess) -> None:
    with make_client(default_gateway, DEV_KEY) as client:
        models = {m.id: m for m in client.models.list()}
        assert {"offline/echo", "offline/embed"} <= set(models)
        assert models["offline/echo"].owned_by == "brutor-offline"
        r = client.chat.completions.create(
            model="offline/echo", messages=[{"role": "user", "content": "hello defaults"}]
        )
        assert r.choices[0].message.content == offline_answer("hello defaults")
        assert r.system_fingerprint == "brutor-offline"
        assert r.usage is not None and r.usage.prompt_tokens == 2
        e = client.embeddings.create(model="offline/embed", input="vector please", encoding_format="float")
        assert len(e.data[0].embedding) == 384
        stream = client.chat.completions.create(
            model="offline/echo", messages=[{"role": "user", "content": "streamed defaults"}], stream=True
        )
        with stream:
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == offline_answer(
                "streamed defaults"
            )


def test_defaults_reject_other_keys(default_gateway: GatewayProcess) -> None:
    with (
        make_client(default_gateway, "sk-some-other-key-123456") as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.models.list()
    assert default_gateway.request("GET", "/healthz").status == 200


def test_defaults_api_key_from_env(tmp_path: Path) -> None:
    custom = "sk-custom-env-key-7777777"
    gw = GatewayProcess(tmp_path, None, env={"BRUTOR_API_KEY": custom})
    gw.start()
    try:
        ok = gw.request(
            "POST",
            "/v1/chat/completions",
            {"model": "offline/echo", "messages": [{"role": "user", "content": "hi"}]},
            auth(custom),
        )
        assert ok.status == 200, ok
        assert gw.request("GET", "/v1/models", headers=auth(DEV_KEY)).status == 401
        assert custom not in gw.stdout() + gw.stderr()
    finally:
        gw.stop()


# ------------------------------------------------------------------------------------ workers


WORKERS_YAML = """
server:
  host: 127.0.0.1
  access_log: stdout
keys:
  - id: multi
    key: sk-multi-worker-key-000001
    tenant: multi
providers:
  - name: local
    type: offline
models:
  - {name: offline/echo, provider: local, type: chat}
"""


def test_two_workers_serve_requests_and_log_to_stdout(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, WORKERS_YAML, args=["--workers", "2"])
    gw.start(timeout=30)
    key = "sk-multi-worker-key-000001"
    try:
        # many fresh connections, so both workers get a share
        for i in range(20):
            resp = gw.request(
                "POST",
                "/v1/chat/completions",
                {"model": "offline/echo", "messages": [{"role": "user", "content": f"worker {i}"}]},
                {**auth(key), "X-Request-ID": f"workers-{i}"},
            )
            assert resp.status == 200, resp
            assert resp.json()["choices"][0]["message"]["content"] == offline_answer(f"worker {i}")

        async def burst() -> list[str]:
            async with make_async_client(gw, key) as ac:
                rs = await asyncio.gather(
                    *(
                        ac.chat.completions.create(
                            model="offline/echo", messages=[{"role": "user", "content": f"burst {i}"}]
                        )
                        for i in range(20)
                    )
                )
                return [r.choices[0].message.content or "" for r in rs]

        assert asyncio.run(burst()) == [offline_answer(f"burst {i}") for i in range(20)]

        def logged() -> set[str]:
            return {str(o.get("client_request_id")) for o in json_lines(gw.stdout())}

        wanted = {f"workers-{i}" for i in range(20)}
        assert wait_until(lambda: wanted <= logged(), 5), f"missing access-log lines: {wanted - logged()}"
        lines = [
            o for o in json_lines(gw.stdout()) if str(o.get("client_request_id", "")).startswith("workers-")
        ]
        assert len(lines) == 20
        for o in lines:
            assert o["tenant"] == "multi" and o["key_id"] == "multi" and o["status"] == 200
            assert o["model"] == "offline/echo" and o["stream"] is False
    finally:
        gw.stop()
    assert key not in gw.stdout() + gw.stderr()


def test_sigterm_stops_gateway_promptly(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path, WORKERS_YAML)
    gw.start()
    assert gw.proc is not None
    try:
        started = time.monotonic()
        gw.proc.terminate()
        try:
            gw.proc.wait(10)
        except subprocess.TimeoutExpired:
            pytest.fail("brutor serve did not exit within 10 s of SIGTERM")
        assert time.monotonic() - started < 10
        assert gw.proc.returncode in (0, -15, 143), gw.proc.returncode
    finally:
        gw.stop()
    with pytest.raises(OSError):
        http_request(gw.port, "GET", "/healthz", timeout=1)


def test_keys_generate_round_trip(tmp_path: Path) -> None:
    """`brutor keys generate` prints a key once and a hash-only config entry that a gateway accepts."""
    pepper = "pepper-for-e2e-0123456789"
    env = clean_env({"BRUTOR_KEY_PEPPER": pepper})
    out = subprocess.run(
        [*brutor_cmd(), "keys", "generate", "--id", "gen", "--tenant", "acme"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    key = out.split("key (shown once): ")[1].split()[0]
    entry = out.split("config entry:\n")[1].strip()
    assert key.startswith("sk-brutor-") and key not in entry and "key_hash: blake2b:" in entry
    config = (
        "server: {key_pepper: '${BRUTOR_KEY_PEPPER}', access_log: 'off'}\n"
        f"keys:\n{entry}\n"
        "providers: [{name: offline, type: offline}]\n"
        "models: [{name: offline/echo, provider: offline}]\n"
    )
    gw = GatewayProcess(tmp_path, config, env={"BRUTOR_KEY_PEPPER": pepper}).start()
    try:
        body = {"model": "offline/echo", "messages": [{"role": "user", "content": "hi"}]}
        assert (
            gw.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}"}).status == 200
        )
        wrong = gw.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}x"})
        assert wrong.status == 401
    finally:
        gw.stop()
    missing = subprocess.run(
        [*brutor_cmd(), "keys", "generate", "--id", "g", "--tenant", "t"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missing.returncode == 1 and "BRUTOR_KEY_PEPPER" in missing.stderr
