"""Bearer JWTs end to end: PyJWT signs, a real `brutor serve` verifies (native), maps claims to the
principal, refreshes a rotated JWKS on an unknown kid, and refuses every tampered or hostile token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from e2e_support import GatewayProcess, json_lines

RSA_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_A = ec.generate_private_key(ec.SECP256R1())
RSA_B1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_B2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
HS_SECRET = "an-hmac-secret-of-at-least-32-bytes!"
CHAT = "/v1/chat/completions"
BODY = {"model": "offline/echo", "messages": [{"role": "user", "content": "hello from a token"}]}


def jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    cls = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    doc = json.loads(cls.to_jwk(key.public_key()))
    return {**doc, "kid": kid, "alg": alg, "use": "sig"}


class Jwks:
    """A JWKS endpoint whose document the test can rotate; counts fetches."""

    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.doc = {"keys": keys}
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps(outer.doc).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    server = Jwks([jwk(RSA_B1, "b1", "RS256")])
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, jwks: Jwks) -> Iterator[GatewayProcess]:
    work: Path = tmp_path_factory.mktemp("jwt-gw")
    jwks_file = work / "a.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk(RSA_A, "a-rsa", "RS256"), jwk(EC_A, "a-ec", "ES256")]}))
    config = {
        "server": {"access_log": str(work / "access.jsonl")},
        "jwt": {
            "issuers": [
                {
                    "name": "corp",
                    "issuer": "https://idp.corp.example",
                    "audiences": ["brutor"],
                    "jwks_file": str(jwks_file),
                    "required_claims": ["sub"],
                    "models": ["offline/*"],
                },
                {
                    "name": "rotating",
                    "issuer": "https://idp.rotating.example",
                    "jwks_url": jwks.url,
                    "jwks_min_refresh_seconds": 1,
                    "default_tenant": "rot-default",
                },
                {"name": "shared", "issuer": "shared-hs", "hs_secret": HS_SECRET, "tenant_claim": "org"},
            ]
        },
        "entitlements": {"groups": {"interns": {"deny": ["offline/echo"]}}},
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [
            {"name": "offline/echo", "provider": "offline"},
            {"name": "other/echo", "provider": "offline"},
        ],
    }
    gateway = GatewayProcess(work, config).start()
    gateway.access_log_path = work / "access.jsonl"  # type: ignore[attr-defined]
    yield gateway
    gateway.stop()


def claims(**extra: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": "https://idp.corp.example",
        "aud": "brutor",
        "sub": "alice",
        "tenant": ["acme", "acme-eu"],
        "groups": ["eng"],
        "email": "alice@example.com",
        "iat": now,
        "exp": now + 300,
    }
    base.update(extra)
    return {k: v for k, v in base.items() if v is not None}


def corp_token(key: Any = RSA_A, alg: str = "RS256", kid: str = "a-rsa", **extra: Any) -> str:
    return jwt.encode(claims(**extra), key, algorithm=alg, headers={"kid": kid})


def call(gw: GatewayProcess, token: str, **headers: str) -> Any:
    return gw.request("POST", CHAT, BODY, {"Authorization": f"Bearer {token}", **headers})


def access_record(gw: GatewayProcess, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        text = gw.access_log_path.read_text() if gw.access_log_path.exists() else ""  # type: ignore[attr-defined]
        for line in json_lines(text):
            if line.get("client_request_id") == request_id:
                return line
        time.sleep(0.05)
    raise AssertionError(f"no access-log line for {request_id}")


@pytest.mark.parametrize(("key", "alg", "kid"), [(RSA_A, "RS256", "a-rsa"), (EC_A, "ES256", "a-ec")])
def test_valid_tokens_are_served_with_their_claims(gw: GatewayProcess, key: Any, alg: str, kid: str) -> None:
    resp = call(gw, corp_token(key, alg, kid), **{"X-Request-ID": f"jwt-ok-{alg}"})
    assert resp.status == 200, resp.body
    record = access_record(gw, f"jwt-ok-{alg}")
    assert (record["key_id"], record["tenant"], record["subject"]) == ("jwt:corp", "acme", "alice")


def test_tenant_header_selects_among_token_tenants(gw: GatewayProcess) -> None:
    token = corp_token()
    assert call(gw, token, **{"X-Tenant-ID": "acme-eu", "X-Request-ID": "jwt-eu"}).status == 200
    assert access_record(gw, "jwt-eu")["tenant"] == "acme-eu"
    refused = call(gw, token, **{"X-Tenant-ID": "globex"})
    assert refused.status == 403 and refused.json()["error"]["code"] == "tenant_not_allowed"


def test_issuer_allow_list_applies(gw: GatewayProcess) -> None:
    body = {**BODY, "model": "other/echo"}
    resp = gw.request("POST", CHAT, body, {"Authorization": f"Bearer {corp_token()}"})
    assert resp.status == 403 and resp.json()["error"]["code"] == "model_not_allowed"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"nbf": int(time.time()) + 3600}, "not_yet_valid"),
        ({"aud": "someone-else"}, "bad_audience"),
        ({"iss": "https://evil.example"}, "bad_issuer"),
        ({"sub": None}, "missing_claim"),
    ],
)
def test_claim_failures_are_401(gw: GatewayProcess, extra: dict[str, Any], reason: str) -> None:
    resp = call(gw, corp_token(**extra))
    assert resp.status == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    assert reason in resp.json()["error"]["message"]


def test_hostile_tokens_are_refused_and_never_echoed(gw: GatewayProcess) -> None:
    good = corp_token()
    header, payload, signature = good.split(".")
    public_pem = RSA_A.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    none_header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    confused_header = b64(json.dumps({"alg": "HS256", "kid": "a-rsa"}).encode())
    confused_sig = b64(hmac.new(public_pem, f"{confused_header}.{payload}".encode(), hashlib.sha256).digest())
    path_kid = b64(json.dumps({"alg": "RS256", "kid": "../../etc/passwd"}).encode())
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    hostile = [
        f"{none_header}.{payload}.",
        f"{none_header}.{payload}.{signature}",
        f"{confused_header}.{payload}.{confused_sig}",
        f"{path_kid}.{payload}.{signature}",
        f"{header}.{payload}.{flipped}",
        f"{header}.{payload}x.{signature}",
        f"{header}.{payload}.{signature}=",
        "a" * 20000 + "." + "b.c",
    ]
    for token in hostile:
        resp = call(gw, token)
        assert resp.status == 401, (token[:60], resp.status, resp.body[:200])
        assert token[:40] not in resp.body.decode(errors="replace")
    assert good not in gw.stdout() + gw.stderr()


def test_unknown_kid_refreshes_the_jwks_once(gw: GatewayProcess, jwks: Jwks) -> None:
    def token(key: Any, kid: str) -> str:
        return jwt.encode(
            claims(iss="https://idp.rotating.example", aud=None, tenant=None),
            key,
            algorithm="RS256",
            headers={"kid": kid},
        )

    assert call(gw, token(RSA_B1, "b1"), **{"X-Request-ID": "jwt-rot-1"}).status == 200
    assert access_record(gw, "jwt-rot-1")["tenant"] == "rot-default"
    # The IdP rotates to a new key; the gateway learns it on the first token that names it.
    jwks.doc = {"keys": [jwk(RSA_B1, "b1", "RS256"), jwk(RSA_B2, "b2", "RS256")]}
    time.sleep(1.1)  # past jwks_min_refresh_seconds since start-up
    before = jwks.fetches
    assert call(gw, token(RSA_B2, "b2")).status == 200
    assert jwks.fetches == before + 1
    # Forged kids cannot make the gateway hammer the IdP: at most one refresh per interval.
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for i in range(5):
        assert call(gw, token(forged, f"forged-{i}")).status == 401
    assert jwks.fetches <= before + 2


def test_hs_issuer_with_custom_tenant_claim(gw: GatewayProcess) -> None:
    now = int(time.time())
    token = jwt.encode(
        {"iss": "shared-hs", "sub": "svc", "org": "initech", "exp": now + 60}, HS_SECRET, "HS256"
    )
    resp = call(gw, token, **{"X-Request-ID": "jwt-hs"})
    assert resp.status == 200, resp.body
    assert access_record(gw, "jwt-hs")["tenant"] == "initech"
    no_tenant = jwt.encode({"iss": "shared-hs", "sub": "svc", "exp": now + 60}, HS_SECRET, "HS256")
    resp = call(gw, no_tenant)
    assert resp.status == 403 and resp.json()["error"]["code"] == "tenant_missing"


def test_api_keys_and_tokens_coexist(gw: GatewayProcess) -> None:
    # This gateway has no API keys: a key-shaped credential is simply unknown.
    resp = call(gw, "sk-not-a-token-0123456789")
    assert resp.status == 401


def test_group_entitlements_from_token_claims(gw: GatewayProcess) -> None:
    assert call(gw, corp_token(groups=["eng"])).status == 200
    refused = call(gw, corp_token(groups=["eng", "interns"]))
    assert refused.status == 403 and refused.json()["error"]["code"] == "model_not_allowed"
