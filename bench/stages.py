"""Identify + authorize cost per request, in process (issue 3's target: <= 40 us on the cached path).

Same run, same machine: the foundation pipeline's stages (static API key, allow-list, no limits) as the
baseline, then a JWT (RS256, verified-token cache hit) with three in-memory limits (key/tenant/model RPM,
TPM, concurrency) reserved in authorize and settled as the return path does.

    python bench/stages.py
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from brutor.assemble import build_limits
from brutor.config import GatewayConfig
from brutor.context import Call, RequestContext, Target
from brutor.identity.jwt_auth import JwtAuthenticator
from brutor.pipeline.authorize import Authorize
from brutor.pipeline.identify import Identify

ROUNDS, N = 7, 20000


def config(tmp_pem: str, with_limits: bool) -> GatewayConfig:
    doc: dict[str, Any] = {
        "keys": [{"id": "k", "key": "sk-bench-0123456789abcdef", "tenant": "acme"}],
        "jwt": {
            "issuers": [{"name": "idp", "issuer": "https://idp", "pem_file": tmp_pem, "audiences": ["b"]}]
        },
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [{"name": "m", "provider": "offline"}],
    }
    if with_limits:
        doc["limits"] = {
            "tenants": {"*": {"rpm": 10**9, "tpm": 10**11, "concurrency": 10**6}},
            "models": {"m": {"tpm": 10**11}},
        }
        doc["keys"][0]["limits"] = {"rpm": 10**9}
    return GatewayConfig.model_validate(doc)


async def per_request_us(cfg: GatewayConfig, token: str) -> float:
    jwt_auth = JwtAuthenticator(cfg.jwt)
    limits = build_limits(cfg)
    identify = Identify(cfg.keys, jwt_auth)
    authorize = Authorize(cfg.keys, cfg.jwt.issuers, limits)
    headers = {"authorization": f"Bearer {token}"}
    call = Call(Target.LLM, "chat.completions", "m", False, None, 100, 50)
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(N):
            ctx = RequestContext("r", headers)
            await identify(ctx)
            ctx.call = call
            await authorize(ctx)
            if ctx.reservation is not None:
                held_by, reservation = ctx.reservation
                held_by.limiter.settle_now(reservation, tokens=120)
        samples.append((time.perf_counter() - start) / N * 1e6)
    return statistics.median(samples)


def main() -> None:
    import tempfile

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as f:
        f.write(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
        pem = f.name
    now = int(time.time())
    token = jwt.encode(
        {"iss": "https://idp", "aud": "b", "sub": "alice", "tenant": "acme", "exp": now + 3600}, key, "RS256"
    )
    rows = [
        ("API key, allow-list (foundation)", config(pem, False), "sk-bench-0123456789abcdef"),
        ("API key + 5 in-memory limits", config(pem, True), "sk-bench-0123456789abcdef"),
        ("JWT RS256 (cache hit) + 4 in-memory limits", config(pem, True), token),
    ]
    print("| identify + authorize (+ settle) | µs per request |\n|---|---|")
    for label, cfg, credential in rows:
        print(f"| {label} | {asyncio.run(per_request_us(cfg, credential)):.2f} |")


if __name__ == "__main__":
    main()
