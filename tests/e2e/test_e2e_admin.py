"""The admin API and the PostgreSQL config store end to end: two replicas (`brutor serve` processes, one
with two workers) share one schema; what the admin API changes on one is enforced on the other within 2 s."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from e2e_support import GatewayProcess, assert_openai_error, auth, make_client, run_cli
from openapi_spec_validator import validate

PG_URL = os.environ.get("BRUTOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ADMIN = "sk-admin-e2e-0123456789abcdef"
PEPPER = "pepper-e2e-0123456789abcdef"
HS_SECRET = "an-hmac-secret-for-the-admin-tests-32b"
FILE_KEY = "sk-file-key-e2e-0123456789"
CHAT = "/v1/chat/completions"
BODY = {"model": "offline/echo", "messages": [{"role": "user", "content": "hi"}]}


def config(schema: str) -> dict[str, Any]:
    return {
        "server": {"admin_key": ADMIN, "key_pepper": PEPPER, "admin_groups": ["brutor-admins"]},
        "store": {"backend": "postgres", "postgres_url": PG_URL, "schema_name": schema, "poll_seconds": 1.0},
        "keys": [{"id": "file-key", "key": FILE_KEY, "tenant": "file-tenant"}],
        "jwt": {
            "issuers": [
                {"name": "idp", "issuer": "https://idp.test", "hs_secret": HS_SECRET, "default_tenant": "t"}
            ]
        },
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [{"name": "offline/echo", "provider": "offline"}],
    }


async def _drop(schema: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    schema = "brutor_e2e_" + secrets.token_hex(4)
    root = tmp_path_factory.mktemp("admin")
    a = GatewayProcess(root / "a", config(schema), args=["--workers", "2"])
    b = GatewayProcess(root / "b", config(schema))
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()
        asyncio.run(_drop(schema))


def admin(gw: GatewayProcess, method: str, path: str, body: Any = None, key: str = ADMIN) -> Any:
    return gw.request(method, path, body, auth(key))


def chat_status(gw: GatewayProcess, key: str, headers: dict[str, str] | None = None) -> int:
    return gw.request("POST", CHAT, BODY, {**auth(key), **(headers or {})}).status


def until(
    gw: GatewayProcess, key: str, expected: int, within: float = 2.0, headers: dict[str, str] | None = None
) -> float:
    start = time.monotonic()
    while time.monotonic() - start < within:
        if chat_status(gw, key, headers) == expected:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"expected {expected} within {within}s")


def test_a_key_created_on_one_replica_works_on_the_other_and_revocation_follows(
    replicas: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = replicas
    assert admin(a, "POST", "/admin/tenants", {"id": "acme", "name": "Acme"}).status == 201
    created = admin(a, "POST", "/admin/keys", {"tenant": "acme", "owner": "bob@acme"})
    assert created.status == 201, created.text
    body = created.json()
    secret = body["key"]
    assert secret.startswith("sk-brutor-") and body["prefix"] == secret[:14] and body["source"] == "database"
    # Shown once: reads never carry the secret (nor its hash).
    again = admin(b, "GET", f"/admin/keys/{body['id']}")
    assert again.status == 200 and secret not in again.text and "blake2b" not in again.text
    assert "key" not in again.json()
    usable_after = until(b, secret, 200)
    for _ in range(6):  # every worker of replica a (requests spread over its two workers)
        assert chat_status(a, secret) == 200
    reply = make_client(b, secret).chat.completions.create(
        model="offline/echo", messages=[{"role": "user", "content": "x"}]
    )
    assert reply.choices[0].message.content
    assert admin(a, "POST", f"/admin/keys/{body['id']}/revoke").json()["revoked"] is True
    refused_after = until(b, secret, 401)
    for _ in range(6):
        assert chat_status(a, secret) == 401
    print(f"key usable on the other replica after {usable_after:.3f}s, refused after {refused_after:.3f}s")


def test_tenant_disable_entitlements_and_limits_apply_everywhere(
    replicas: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, b = replicas
    assert admin(a, "POST", "/admin/tenants", {"id": "beta"}).status == 201
    secret = admin(a, "POST", "/admin/keys", {"tenant": "beta", "id": "beta-key"}).json()["key"]
    until(b, secret, 200)
    # Entitlement: the tenant may no longer use offline/*.
    put = admin(a, "PUT", "/admin/entitlements/tenants/beta", {"deny": ["offline/*"]})
    assert put.status == 200 and put.json()["deny"] == ["offline/*"]
    until(b, secret, 403)
    assert admin(a, "DELETE", "/admin/entitlements/tenants/beta").json()["deleted"] is True
    until(b, secret, 200)
    # Limits: 2 requests per minute for the tenant (one limiter per process: memory backend).
    assert admin(a, "PUT", "/admin/limits/tenants/beta", {"rpm": 2}).status == 200
    start = time.monotonic()
    statuses: list[int] = []
    while time.monotonic() - start < 3 and 429 not in statuses:
        statuses.append(chat_status(b, secret))
        time.sleep(0.05)
    assert 429 in statuses and statuses.count(200) <= 3
    assert admin(a, "DELETE", "/admin/limits/tenants/beta").status == 200
    until(b, secret, 200)
    # Disabled tenant: refused whatever the key allows.
    patched = admin(a, "PATCH", "/admin/tenants/beta", {"disabled": True})
    assert patched.status == 200 and patched.json()["disabled"] is True
    until(b, secret, 403)
    assert_openai_error(b.request("POST", CHAT, BODY, auth(secret)), 403, code="tenant_disabled")
    # A tenant with keys cannot be deleted; after its key, it can.
    assert_openai_error(admin(a, "DELETE", "/admin/tenants/beta"), 409)
    assert admin(a, "DELETE", "/admin/keys/beta-key").status == 200
    assert admin(a, "DELETE", "/admin/tenants/beta").status == 200
    until(b, secret, 401)


def test_models_added_through_the_api_are_served(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = replicas
    put = admin(a, "PUT", "/admin/models/team/echo-2", {"provider": "offline", "upstream_model": "echo"})
    assert put.status == 200, put.text
    assert put.json()["name"] == "team/echo-2"
    start = time.monotonic()
    while time.monotonic() - start < 2:
        listed = b.request("GET", "/v1/models", headers=auth(FILE_KEY)).json()
        if "team/echo-2" in {m["id"] for m in listed["data"]}:
            break
        time.sleep(0.02)
    else:
        raise AssertionError("model not listed on the other replica within 2 s")
    chat = b.request("POST", CHAT, {**BODY, "model": "team/echo-2"}, auth(FILE_KEY))
    assert chat.status == 200 and chat.json()["model"] == "team/echo-2"
    assert (
        assert_openai_error(admin(a, "PUT", "/admin/models/x", {"provider": "nowhere"}), 400)["param"]
        == "provider"
    )
    assert admin(a, "DELETE", "/admin/models/team/echo-2").status == 200


def test_admin_authentication(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, _ = replicas
    assert_openai_error(a.request("GET", "/admin/keys"), 401)
    assert_openai_error(admin(a, "GET", "/admin/keys", key="sk-wrong-admin-key-000"), 401)
    assert_openai_error(admin(a, "GET", "/admin/keys", key=FILE_KEY), 401)
    now = int(time.time())
    claims = {"iss": "https://idp.test", "sub": "alice", "iat": now, "exp": now + 300}
    admin_token = jwt.encode({**claims, "groups": ["brutor-admins"]}, HS_SECRET, algorithm="HS256")
    user_token = jwt.encode({**claims, "groups": ["eng"]}, HS_SECRET, algorithm="HS256")
    assert admin(a, "GET", "/admin/tenants", key=admin_token).status == 200
    assert_openai_error(admin(a, "GET", "/admin/tenants", key=user_token), 403, code="not_admin")
    forged = jwt.encode(
        {**claims, "groups": ["brutor-admins"]}, "another-secret-of-32-bytes-or-more", algorithm="HS256"
    )
    assert_openai_error(admin(a, "GET", "/admin/tenants", key=forged), 401)


def test_bad_admin_requests_get_clear_errors(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, _ = replicas
    assert_openai_error(admin(a, "POST", "/admin/tenants", "{not json"), 400, code="invalid_json")
    assert assert_openai_error(admin(a, "POST", "/admin/tenants", {"id": "bad id!"}), 400)["param"] == "id"
    assert (
        assert_openai_error(admin(a, "POST", "/admin/tenants", {"id": "x", "colour": "red"}), 400)["param"]
        == "colour"
    )
    assert assert_openai_error(admin(a, "PUT", "/admin/limits/tenants/x", {"rpm": 0}), 400)["param"] == "rpm"
    assert_openai_error(admin(a, "PUT", "/admin/limits/planets/x", {"rpm": 1}), 404)
    assert_openai_error(admin(a, "POST", "/admin/keys", {"tenant": "no-such-tenant"}), 409)
    assert (
        assert_openai_error(
            admin(a, "POST", "/admin/keys", {"tenant": "acme", "expires_at": "2030-01-01T00:00:00"}), 400
        )["param"]
        == "expires_at"
    )
    assert_openai_error(admin(a, "GET", "/admin/keys/nope"), 404)
    assert_openai_error(admin(a, "GET", "/admin/nothing-here"), 404)
    resp = admin(a, "DELETE", "/admin/keys")
    assert_openai_error(resp, 405)
    assert "GET" in resp.headers["allow"] and "POST" in resp.headers["allow"]
    # A key from the config file is the file's to change.
    assert_openai_error(admin(a, "POST", "/admin/keys/file-key/revoke"), 409, code="defined_in_file")
    assert_openai_error(admin(a, "POST", "/admin/keys", {"tenant": "acme", "id": "file-key"}), 409)
    listed = admin(a, "GET", "/admin/keys").json()["data"]
    assert {"id": "file-key", "source": "file"}.items() <= next(
        k for k in listed if k["id"] == "file-key"
    ).items()


def test_openapi_document_is_valid_and_lists_every_route(
    replicas: tuple[GatewayProcess, GatewayProcess],
) -> None:
    a, _ = replicas
    resp = a.request("GET", "/admin/openapi.json")
    assert resp.status == 200
    doc = resp.json()
    validate(doc)
    ops = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert ("/admin/keys", "post") in ops and ("/admin/keys/{key_id}/revoke", "post") in ops
    assert ("/admin/limits/{kind}/{subject}", "put") in ops and ("/admin/models/{name}", "delete") in ops
    assert "KeyCreated" in doc["components"]["schemas"]


def test_cli_manages_keys_through_the_api(
    replicas: tuple[GatewayProcess, GatewayProcess], tmp_path: Path
) -> None:
    a, b = replicas
    env = {"BRUTOR_ADMIN_KEY": ADMIN, "BRUTOR_URL": f"http://127.0.0.1:{a.port}"}
    assert run_cli(["tenants", "create", "cli-co", "--name", "CLI Co"], env=env).returncode == 0
    made = run_cli(["keys", "create", "--tenant", "cli-co", "--id", "cli-key", "--json"], env=env)
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["key"]
    until(b, secret, 200)
    listed = run_cli(["keys", "list", "--tenant", "cli-co"], env=env)
    assert "cli-key" in listed.stdout and "active" in listed.stdout and secret not in listed.stdout
    assert run_cli(["keys", "revoke", "cli-key"], env=env).returncode == 0
    until(b, secret, 401)
    missing = run_cli(["keys", "revoke", "no-such-key"], env=env)
    assert missing.returncode == 1 and "404" in missing.stderr
    no_key = run_cli(["keys", "list"], env={"BRUTOR_URL": env["BRUTOR_URL"]})
    assert no_key.returncode == 1 and "BRUTOR_ADMIN_KEY" in no_key.stderr


def test_secrets_never_reach_the_logs(replicas: tuple[GatewayProcess, GatewayProcess]) -> None:
    a, b = replicas
    made = admin(a, "POST", "/admin/keys", {"tenant": "acme", "id": "log-check"}).json()
    until(b, made["key"], 200)
    for gw in (a, b):
        logs = gw.stdout() + gw.stderr()
        for secret in (made["key"], ADMIN, PEPPER, HS_SECRET, FILE_KEY):
            assert secret not in logs
        assert "admin change by admin-key: key log-check created" in logs or gw is b
