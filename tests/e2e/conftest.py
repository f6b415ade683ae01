"""Fixtures for the end-to-end suite: one mock upstream and one fully configured gateway per session.

The session gateway's config exercises ``${ENV}`` substitution (upstream URL, keys, access-log path and a
``${VAR:-default}`` tenant), so every test that talks to it also proves substitution works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from e2e_support import (
    ADMIN_KEY,
    BAD_UPSTREAM_KEY,
    MAX_BODY_BYTES,
    SLOW_FIRST_BYTE_TIMEOUT,
    TEAM_A_KEY,
    TEAM_B_KEY,
    TEAM_C_KEY,
    GatewayProcess,
    free_port,
    make_client,
)
from mock_openai import DEFAULT_API_KEY as UPSTREAM_KEY
from mock_openai import MockOpenAI

GATEWAY_CONFIG = f"""
server:
  host: 127.0.0.1
  workers: 1
  max_body_bytes: {MAX_BODY_BYTES}
  access_log: ${{BRUTOR_E2E_ACCESS_LOG}}
  admin_key: ${{BRUTOR_E2E_ADMIN_KEY}}
keys:
  - id: team-a
    key: ${{BRUTOR_E2E_TEAM_A_KEY}}
    tenant: acme
    models: ["gpt-4o-mini", "offline/*"]
  - id: team-b
    key: {TEAM_B_KEY}
    tenant: ${{BRUTOR_E2E_TENANT_B_UNSET:-globex}}
  - id: team-c
    key: {TEAM_C_KEY}
    tenant: initech
    models: ["*"]
providers:
  - name: upstream
    type: openai
    base_url: ${{BRUTOR_E2E_UPSTREAM_URL}}
    api_key: ${{BRUTOR_E2E_UPSTREAM_KEY}}
    headers: {{X-Extra-Header: "1"}}
    timeouts: {{connect: 2, first_byte: 20, idle: 20, total: 60}}
  - name: slow
    type: openai
    base_url: ${{BRUTOR_E2E_UPSTREAM_URL}}
    api_key: ${{BRUTOR_E2E_UPSTREAM_KEY}}
    timeouts: {{connect: 2, first_byte: {SLOW_FIRST_BYTE_TIMEOUT}, idle: 10, total: 30}}
  - name: down
    type: openai
    base_url: http://127.0.0.1:${{BRUTOR_E2E_DEAD_PORT}}/v1
    api_key: sk-unused-upstream-key-0000
    timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 10}}
  - name: badauth
    type: openai
    base_url: ${{BRUTOR_E2E_UPSTREAM_URL}}
    api_key: {BAD_UPSTREAM_KEY}
  - name: local
    type: offline
models:
  - {{name: gpt-4o-mini, provider: upstream, upstream_model: mock-gpt, type: chat}}
  - {{name: die-midstream, provider: upstream, upstream_model: mock-die-midstream}}
  - {{name: rate-limited, provider: upstream, upstream_model: mock-429}}
  - {{name: broken, provider: upstream, upstream_model: mock-500}}
  - {{name: no-usage, provider: upstream, upstream_model: mock-no-usage}}
  - {{name: slow-stream, provider: upstream, upstream_model: mock-slow-stream}}
  - {{name: slow-first-byte, provider: slow, upstream_model: mock-slow-first-byte}}
  - {{name: slow-patient, provider: upstream, upstream_model: mock-slow-first-byte}}
  - {{name: unreachable, provider: down, upstream_model: mock-gpt}}
  - {{name: bad-upstream-auth, provider: badauth, upstream_model: mock-gpt}}
  - {{name: text-embedding-3-small, provider: upstream, upstream_model: mock-embed, type: embedding}}
  - {{name: offline/echo, provider: local, type: chat}}
  - {{name: offline/embed, provider: local, type: embedding}}
"""


class Gateway(GatewayProcess):
    access_log_path: Path

    def access_log(self) -> str:
        return self.access_log_path.read_text(errors="replace") if self.access_log_path.exists() else ""


@pytest.fixture(scope="session")
def gateway(mock_upstream: MockOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("gateway")
    access_log = workdir / "access.jsonl"
    env = {
        "BRUTOR_E2E_ACCESS_LOG": str(access_log),
        "BRUTOR_E2E_ADMIN_KEY": ADMIN_KEY,
        "BRUTOR_E2E_TEAM_A_KEY": TEAM_A_KEY,
        "BRUTOR_E2E_UPSTREAM_URL": mock_upstream.base_url,
        "BRUTOR_E2E_UPSTREAM_KEY": UPSTREAM_KEY,
        "BRUTOR_E2E_DEAD_PORT": str(free_port()),
    }
    gw = Gateway(workdir, GATEWAY_CONFIG, env=env)
    gw.access_log_path = access_log
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


@pytest.fixture
def client(gateway: Gateway) -> Iterator[openai.OpenAI]:
    """SDK client with team-b's key (tenant globex, every model allowed)."""
    c = make_client(gateway)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def client_a(gateway: Gateway) -> Iterator[openai.OpenAI]:
    """SDK client with team-a's key (tenant acme, allow-list gpt-4o-mini + offline/*)."""
    c = make_client(gateway, TEAM_A_KEY)
    try:
        yield c
    finally:
        c.close()
