"""Regenerates vectors.json, the fixed keys and tokens of the Rust unit tests (src/jwt/tests/).

python native/src/jwt/testdata/generate.py   (needs pyjwt[crypto]; keys are random, so the
                                             output changes: commit it with the tests)
"""

from __future__ import annotations

import json
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

NOW = 1_700_000_000
PUB = ser.PublicFormat.SubjectPublicKeyInfo


def pem(key: object, fmt: ser.PublicFormat = PUB) -> str:
    return key.public_key().public_bytes(ser.Encoding.PEM, fmt).decode()  # type: ignore[attr-defined]


def main() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    secret = bytes(range(64))
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (refusal test)
    k1 = ec.generate_private_key(ec.SECP256K1())
    keys = {
        "rsa": (rsa_key, RSAAlgorithm, ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]),
        "p256": (p256, ECAlgorithm, ["ES256"]),
        "p384": (p384, ECAlgorithm, ["ES384"]),
        "ed25519": (ed, OKPAlgorithm, ["EdDSA"]),
    }
    out: dict[str, object] = {"now": NOW, "keys": {}, "tokens": []}
    claims = {
        "iss": "https://idp.example",
        "sub": "user-1",
        "aud": ["brutor", "other"],
        "exp": NOW + 600,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "tenant": "acme",
        "groups": ["a", "b"],
    }
    for name, (key, algcls, algs) in keys.items():
        jwk = json.loads(algcls.to_jwk(key.public_key()))  # type: ignore[attr-defined]
        jwk["kid"] = f"{name}-1"
        out["keys"][name] = {"pem": pem(key), "jwk": jwk}  # type: ignore[index]
        for alg in algs:
            tok = jwt.encode(claims, key, algorithm=alg, headers={"kid": f"{name}-1"})
            out["tokens"].append({"alg": alg, "key": name, "token": tok})  # type: ignore[attr-defined]
    out["keys"]["rsa"]["pkcs1_pem"] = pem(rsa_key, ser.PublicFormat.PKCS1)  # type: ignore[index]
    out["keys"]["hmac"] = {
        "secret_hex": secret.hex(),
        "jwk": {"kty": "oct", "kid": "hmac-1", "k": jwt.utils.base64url_encode(secret).decode()},
    }  # type: ignore[index]
    for alg in ["HS256", "HS384", "HS512"]:
        tok = jwt.encode(claims, secret, algorithm=alg, headers={"kid": "hmac-1"})
        out["tokens"].append({"alg": alg, "key": "hmac", "token": tok})  # type: ignore[attr-defined]
    out["keys"]["rsa1024"] = {"pem": pem(weak)}  # type: ignore[index]
    out["keys"]["secp256k1"] = {"pem": pem(k1)}  # type: ignore[index]
    out["claims"] = claims
    path = Path(__file__).with_name("vectors.json")
    path.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
