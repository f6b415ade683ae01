#!/usr/bin/env python3
"""Micro-benchmark of Brutor's native JWT verification against PyJWT, in the same run.

For RS256 (2048-bit), ES256, EdDSA (Ed25519) and HS256 tokens signed by PyJWT with a realistic
payload (iss, sub, aud, exp, iat, nbf, tenant, groups), measures per token:
  - native: JwtVerifier(cache_size=0).verify(token)   (parse + signature + claims, every time)
  - PyJWT:  jwt.decode(token, key, algorithms=[alg], audience=..., issuer=...) with the key object
            loaded once (PyJWT's fastest path)
  - native cached: JwtVerifier(...).verify(token) of a token verified before (cache hit)
Correctness first: both verifiers must return the same claims for every token. Each figure is the
median of several timeit rounds (µs per call). Targets (Brutor issue 3): RS256 <= 30 µs, cached <= 2 µs.

    python bench/jwt_verify.py [--rounds 7] [--round-seconds 0.2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ISS = "https://idp.example.com/realms/brutor"
AUD = "brutor-gateway"
TARGETS = {"RS256": 30.0}
CACHED_TARGET = 2.0


def keys() -> dict[str, tuple[Any, Any, bytes | None]]:
    """alg -> (signing key, verification key object, public PEM or None for HMAC)."""
    out: dict[str, tuple[Any, Any, bytes | None]] = {}
    for alg, priv in [
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
        ("EdDSA", ed25519.Ed25519PrivateKey.generate()),
    ]:
        pub = priv.public_key()
        pem = pub.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
        out[alg] = (priv, pub, pem)
    secret = b"bench-secret-bench-secret-bench-secret!!"
    out["HS256"] = (secret, secret, None)
    return out


def payload(now: int) -> dict[str, Any]:
    return {
        "iss": ISS,
        "sub": "f3b9a1c2-5d7e-4c1a-9b0e-2a6f8d4c3e1b",
        "aud": [AUD, "account"],
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "jti": "b1f0d1e2-7c3a-4a5b-9e8f-0c1d2e3f4a5b",
        "tenant": "acme",
        "groups": ["engineering", "llm-users", "mcp-tools"],
        "email": "dev@example.com",
        "scope": "openid profile email",
    }


def per_call_us(fn: Callable[[], object], rounds: int, round_seconds: float) -> float:
    """Median over `rounds` timeit rounds of µs per call."""
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()  # at least 0.2 s
    number = max(1, int(number * round_seconds / 0.2))
    samples = [t / number * 1e6 for t in timer.repeat(repeat=rounds, number=number)]
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7, help="timeit rounds per figure (median reported)")
    ap.add_argument("--round-seconds", type=float, default=0.2, help="approximate length of one round")
    a = ap.parse_args()
    sys.path.append(str(Path(__file__).resolve().parent.parent))  # an installed brutor wins
    from brutor._native import JwtIssuer, JwtKeySet, JwtVerifier

    now = int(time.time())
    print(
        f"python {platform.python_version()}, PyJWT {jwt.__version__}, {platform.machine()}, "
        f"{platform.processor() or platform.platform()}"
    )
    print(f"median of {a.rounds} rounds of ~{a.round_seconds} s, µs per token\n")
    print("| alg | token bytes | native µs | PyJWT µs | native speed-up | native cached µs |")
    print("|---|---|---|---|---|---|")
    failed = False
    for alg, (priv, pub, pem) in keys().items():
        token = jwt.encode(payload(now), priv, algorithm=alg, headers={"kid": "k1"})
        ks = JwtKeySet.from_pem(pem, kid="k1") if pem else JwtKeySet.from_secret(priv, kid="k1", alg=alg)
        issuer = JwtIssuer(ISS, ks, audiences=[AUD], algorithms=[alg])
        fresh = JwtVerifier([issuer], cache_size=0)
        cached = JwtVerifier([issuer], cache_size=10_000)

        def native(fresh: Any = fresh, token: str = token) -> object:
            return fresh.verify(token)

        def native_cached(cached: Any = cached, token: str = token) -> object:
            return cached.verify(token)

        def pyjwt(token: str = token, pub: Any = pub, alg: str = alg) -> object:
            return jwt.decode(token, pub, algorithms=[alg], audience=AUD, issuer=ISS)

        # Correctness before timing.
        expected = pyjwt()
        got = native()
        if json.loads(got.claims_json) != expected or got.algorithm != alg:  # type: ignore[attr-defined]
            print(f"| {alg} | MISMATCH between native and PyJWT claims | | | | |")
            failed = True
            continue
        native_cached()
        assert cached.cache_len == 1
        t_native = per_call_us(native, a.rounds, a.round_seconds)
        t_py = per_call_us(pyjwt, a.rounds, a.round_seconds)
        t_cached = per_call_us(native_cached, a.rounds, a.round_seconds)
        print(
            f"| {alg} | {len(token)} | {t_native:,.1f} | {t_py:,.1f} | {t_py / t_native:,.1f}x | {t_cached:,.2f} |"
        )
        if alg in TARGETS and t_native > TARGETS[alg]:
            print(f"  (above the {TARGETS[alg]:.0f} µs target)")
        if t_cached > CACHED_TARGET:
            print(f"  (cached above the {CACHED_TARGET:.0f} µs target)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
