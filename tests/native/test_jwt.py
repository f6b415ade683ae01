"""Tests of the native JWT verifier (``brutor._native.JwtVerifier``) against PyJWT.

The oracle is PyJWT (with ``cryptography``) with its clock frozen at the same ``now``: tokens it
signs must verify natively with identical claims, and the native verifier must refuse exactly the
tokens PyJWT refuses for time, issuer, audience and required-claim rules (hypothesis over claims,
leeway edges included). Every single-byte or single-bit change of a token must be refused by both.
An attack suite
covers algorithm confusion, ``alg: none``, hostile kids, sizes and malformed encodings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.types import Options

from brutor._native import JwtError, JwtIssuer, JwtKeySet, JwtVerifier, VerifiedToken

ISS = "https://idp.example"
NOW = 1_700_000_000
KID = "key-1"
ALGS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
    "HS256",
    "HS384",
    "HS512",
]
ASYMMETRIC = ALGS[:9]
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


# --------------------------------------------------------------------------- keys and helpers


@dataclass(frozen=True)
class Signer:
    """A signing key of one family with its public forms."""

    family: str
    private: Any  # a cryptography private key, or the HMAC secret
    public: Any  # what PyJWT verifies with
    pem: bytes | None
    jwk: dict[str, Any]


def _make_signers() -> dict[str, Signer]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    out = {}
    families: list[tuple[str, Any, Any]] = [
        ("rsa", rsa_key, RSAAlgorithm),
        ("p256", p256, ECAlgorithm),
        ("p384", p384, ECAlgorithm),
        ("ed", ed, OKPAlgorithm),
    ]
    for family, key, cls in families:
        pub = key.public_key()
        pem = pub.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
        jwk = json.loads(cls.to_jwk(pub))
        out[family] = Signer(family, key, pub, pem, jwk)
    secret = hashlib.sha512(b"brutor test secret").digest()  # 64 bytes: enough for HS512
    out["hmac"] = Signer("hmac", secret, secret, None, json.loads(HMACAlgorithm.to_jwk(secret)))
    return out


SIGNERS = _make_signers()
FAMILY = {
    **dict.fromkeys(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"], "rsa"),
    "ES256": "p256",
    "ES384": "p384",
    "EdDSA": "ed",
    **dict.fromkeys(["HS256", "HS384", "HS512"], "hmac"),
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keyset(alg: str, source: str, kid: str | None = KID) -> JwtKeySet:
    """The verification key of ``alg``'s family from PEM (or the raw secret) or from a JWKS."""
    s = SIGNERS[FAMILY[alg]]
    if source == "jwks":
        jwk = dict(s.jwk, **({"kid": kid} if kid else {}))
        return JwtKeySet.from_jwks(json.dumps({"keys": [jwk]}))
    if s.pem is None:
        return JwtKeySet.from_secret(s.private, kid=kid, alg=alg)
    return JwtKeySet.from_pem(s.pem, kid=kid)


def sign(alg: str, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
    hdr = {"kid": KID} if headers is None else headers
    return jwt.encode(claims, SIGNERS[FAMILY[alg]].private, algorithm=alg, headers=hdr)


def hs256_raw(header: bytes | str, payload: bytes | str, secret: bytes) -> str:
    """A token over raw header/payload JSON, HMAC-SHA256-signed (PyJWT will not sign odd ones)."""
    h = header.encode() if isinstance(header, str) else header
    p = payload.encode() if isinstance(payload, str) else payload
    signing_input = f"{b64(h)}.{b64(p)}"
    tag = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(tag)}"


def verifier(
    alg: str, source: str = "pem", algorithms: list[str] | None = None, cache_size: int = 0, **policy: Any
) -> JwtVerifier:
    issuer = JwtIssuer(ISS, keyset(alg, source), algorithms=algorithms or [alg], **policy)
    return JwtVerifier([issuer], cache_size=cache_size)


def native_outcome(ver: JwtVerifier, token: str | bytes, now: int = NOW) -> str:
    try:
        ver.verify(token, now=now)
    except JwtError as e:
        return e.code
    return "ok"


def _frozen_datetime(ts: float) -> type[datetime]:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:
            return cls.fromtimestamp(ts, tz)

    return Frozen


@contextmanager
def pyjwt_clock(now: int) -> Iterator[None]:
    """PyJWT reads ``datetime.now()``; freeze it at ``now``."""
    with mock.patch.object(jwt.api_jwt, "datetime", _frozen_datetime(now)):
        yield


def pyjwt_outcome(
    token: str | bytes,
    alg: str,
    now: int = NOW,
    audiences: list[str] | None = None,
    leeway: int = 60,
    required: list[str] | None = None,
    require_exp: bool = True,
) -> dict[str, Any] | None:
    """PyJWT's verdict under the same policy as the native issuer: the claims, or None."""
    require = [*(required or []), *(["exp"] if require_exp else [])]
    options: Options = {"require": require}
    try:
        with pyjwt_clock(now):
            out: dict[str, Any] = jwt.decode(
                token,
                SIGNERS[FAMILY[alg]].public,
                algorithms=[alg],
                audience=audiences or None,
                issuer=ISS,
                leeway=leeway,
                options=options,
            )
    except Exception:
        return None
    return out


def base_claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISS, "sub": "user-1", "exp": NOW + 600, **extra}


# --------------------------------------------------------------------------- PyJWT-signed tokens verify


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
custom_claims = st.dictionaries(
    st.text(min_size=1, max_size=12).filter(
        lambda k: k not in {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}
    ),
    json_values,
    max_size=6,
)


@pytest.mark.parametrize("source", ["pem", "jwks"])
@pytest.mark.parametrize("alg", ALGS)
@SETTINGS
@given(custom=custom_claims, aud=st.sampled_from([None, "brutor", ["brutor", "x"]]))
def test_pyjwt_tokens_verify_with_identical_claims(
    alg: str, source: str, custom: dict[str, Any], aud: Any
) -> None:
    claims = base_claims(iat=NOW - 5, nbf=NOW - 5, **custom)
    if aud is not None:
        claims["aud"] = aud
    token = sign(alg, claims)
    ver = verifier(alg, source, audiences=["brutor"] if aud else [])
    got = ver.verify(token, now=NOW)
    expected = pyjwt_outcome(token, alg, audiences=["brutor"] if aud else None)
    assert expected is not None
    assert json.loads(got.claims_json) == expected
    assert got.claims_json == jwt.utils.base64url_decode(token.split(".")[1])
    assert (got.issuer, got.subject, got.algorithm, got.key_id) == (ISS, "user-1", alg, KID)
    assert got.audiences == ([aud] if isinstance(aud, str) else aud or [])
    assert (got.expires_at, got.issued_at, got.not_before) == (NOW + 600, NOW - 5, NOW - 5)


@pytest.mark.parametrize("alg", ALGS)
def test_without_kid_the_compatible_key_is_found(alg: str) -> None:
    token = sign(alg, base_claims(), headers={})
    assert "kid" not in jwt.get_unverified_header(token)
    for source in ["pem", "jwks"]:
        got = verifier(alg, source).verify(token, now=NOW)
        assert got.key_id == KID and got.algorithm == alg


# --------------------------------------------------------------------------- claim rules = PyJWT's

offsets = st.none() | st.integers(-3, 3) | st.sampled_from([-61, -60, -59, 59, 60, 61, -3600, 3600])


@SETTINGS
@given(
    alg=st.sampled_from(ALGS),
    leeway=st.sampled_from([0, 1, 60]),
    exp=offsets,
    nbf=offsets,
    iat=offsets,
    float_dates=st.booleans(),
    iss=st.sampled_from([ISS, ISS + "/", "https://other.example", None]),
    aud=st.sampled_from([None, "brutor", "other", ["other", "brutor"], ["other"], [], ""]),
    audiences=st.sampled_from([[], ["brutor"], ["brutor", "api"]]),
    tenant=st.sampled_from([None, "absent", "acme", 0]),
    required=st.sampled_from([[], ["tenant"], ["tenant", "sub"]]),
    require_exp=st.booleans(),
)
def test_accepts_exactly_when_pyjwt_accepts(
    alg: str,
    leeway: int,
    exp: int | None,
    nbf: int | None,
    iat: int | None,
    float_dates: bool,
    iss: str | None,
    aud: Any,
    audiences: list[str],
    tenant: Any,
    required: list[str],
    require_exp: bool,
) -> None:
    claims: dict[str, Any] = {"sub": "user-1"}
    for name, off in [("exp", exp), ("nbf", nbf), ("iat", iat)]:
        if off is not None:
            claims[name] = NOW + off + (0.75 if float_dates else 0)
    if iss is not None:
        claims["iss"] = iss
    if aud is not None:
        claims["aud"] = aud
    if tenant != "absent":
        claims["tenant"] = tenant
    token = sign(alg, claims)
    # The native verifier only knows ISS: a token of another (or no) issuer must be bad_issuer.
    ver = verifier(alg, audiences=audiences, leeway=leeway, required_claims=required, require_exp=require_exp)
    expected = pyjwt_outcome(
        token, alg, audiences=audiences, leeway=leeway, required=required, require_exp=require_exp
    )
    got = native_outcome(ver, token)
    assert (got == "ok") == (expected is not None), (got, claims)
    if iss != ISS:
        assert got == "bad_issuer"


@pytest.mark.parametrize(
    ("claim", "offset", "code"),
    [
        ("exp", -60, "expired"),
        ("exp", -59, "ok"),
        ("nbf", 60, "ok"),
        ("nbf", 61, "not_yet_valid"),
        ("iat", 60, "ok"),
        ("iat", 61, "issued_in_future"),
    ],
)
def test_leeway_edges(claim: str, offset: int, code: str) -> None:
    claims = base_claims(**{claim: NOW + offset})
    token = sign("EdDSA", claims)
    assert native_outcome(verifier("EdDSA"), token) == code
    assert (pyjwt_outcome(token, "EdDSA") is not None) == (code == "ok")


def test_error_codes_for_claims() -> None:
    ver = verifier("HS256", audiences=["brutor"], required_claims=["tenant"])
    cases: list[tuple[dict[str, Any], str]] = [
        (base_claims(aud="brutor", tenant="t"), "ok"),
        (base_claims(aud="other", tenant="t"), "bad_audience"),
        (base_claims(tenant="t"), "bad_audience"),
        (base_claims(aud="brutor"), "missing_claim"),
        (base_claims(aud="brutor", tenant=None), "missing_claim"),
        ({"iss": ISS, "aud": "brutor", "tenant": "t"}, "missing_claim"),
        (base_claims(aud="brutor", tenant="t", iss="https://evil.example"), "bad_issuer"),
        (base_claims(aud="brutor", tenant="t", exp=NOW - 61), "expired"),
    ]
    for claims, code in cases:
        assert native_outcome(ver, sign("HS256", claims)) == code, claims


# --------------------------------------------------------------------------- tampering


TAMPER_TOKENS = {alg: sign(alg, base_claims(aud="brutor", groups=["a", "b"])) for alg in ALGS}


@pytest.mark.parametrize("alg", ALGS)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(data=st.data())
def test_any_single_byte_or_bit_change_fails(alg: str, data: st.DataObject) -> None:
    token = TAMPER_TOKENS[alg].encode()
    pos = data.draw(st.integers(0, len(token) - 1), label="position")
    if data.draw(st.booleans(), label="bit flip"):
        new = token[pos] ^ (1 << data.draw(st.integers(0, 7), label="bit"))
    else:
        new = data.draw(st.integers(0, 255).filter(lambda b: b != token[pos]), label="byte")
    bad = token[:pos] + bytes([new]) + token[pos + 1 :]
    ver = verifier(alg, audiences=["brutor"])
    assert native_outcome(ver, token) == "ok"
    assert native_outcome(ver, bad) != "ok"
    assert pyjwt_outcome(bad, alg, audiences=["brutor"]) is None


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA", "HS256"])
def test_non_canonical_and_padded_signatures(alg: str) -> None:
    """The last signature character carries unused low bits: both refuse them set. PyJWT accepts
    ``=`` padding (for AWS ALB); the native verifier refuses it (strict RFC 7515 encoding)."""
    token = TAMPER_TOKENS[alg]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    sig = token.rsplit(".", 1)[1]
    unused = {2: 4, 3: 2}[len(sig) % 4]  # bits below the last whole byte
    value = alphabet.index(sig[-1])
    assert value & ((1 << unused) - 1) == 0
    ver = verifier(alg, audiences=["brutor"])
    for bits in range(1, 1 << unused):
        variant = token[:-1] + alphabet[value | bits]
        assert native_outcome(ver, variant) == "malformed"
        assert pyjwt_outcome(variant, alg, audiences=["brutor"]) is None
    padded = token + "=" * (4 - len(sig) % 4)
    assert pyjwt_outcome(padded, alg, audiences=["brutor"]) is not None
    assert native_outcome(ver, padded) == "malformed"


# --------------------------------------------------------------------------- attacks


def rsa_verifier(algorithms: list[str] | None = None, **policy: Any) -> JwtVerifier:
    keys = JwtKeySet.from_pem(SIGNERS["rsa"].pem or b"", kid=KID)
    return JwtVerifier([JwtIssuer(ISS, keys, algorithms=algorithms or ASYMMETRIC, **policy)], cache_size=0)


def test_hs256_signed_with_the_rsa_public_key_is_refused() -> None:
    pem = SIGNERS["rsa"].pem or b""
    der = SIGNERS["rsa"].public.public_bytes(ser.Encoding.DER, ser.PublicFormat.SubjectPublicKeyInfo)
    payload = json.dumps(base_claims())
    for secret in [pem, pem.strip(), der]:
        token = hs256_raw(json.dumps({"alg": "HS256", "kid": KID}), payload, secret)
        assert native_outcome(rsa_verifier(), token) == "alg_not_allowed"
        # Even when the issuer (wrongly) allows HS256, an RSA key never serves it.
        assert native_outcome(rsa_verifier(algorithms=ALGS), token) == "key_mismatch"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_alg_none(alg: str) -> None:
    header = b64(json.dumps({"alg": alg, "kid": KID}).encode())
    payload = b64(json.dumps(base_claims()).encode())
    real_sig = TAMPER_TOKENS["RS256"].rsplit(".", 1)[1]
    for token in [
        f"{header}.{payload}.",
        f"{header}.{payload}.{real_sig}",
        f"{header}.{payload}.{b64(b'x')}",
    ]:
        assert native_outcome(rsa_verifier(algorithms=ALGS), token) == "alg_not_allowed"
    with pytest.raises(JwtError) as e:
        JwtIssuer(ISS, JwtKeySet.from_pem(SIGNERS["rsa"].pem or b""), algorithms=["RS256", "none"])
    assert e.value.code == "unsupported"


@pytest.mark.parametrize(
    "kid", ["../../etc/passwd", "/dev/null", "k" * 1000, "", "a/b", "..", "k\x00", "é", "a b"]
)
def test_hostile_kids(kid: str) -> None:
    token = sign("RS256", base_claims(), headers={"kid": kid})
    assert native_outcome(rsa_verifier(), token) == "bad_kid"


def test_unknown_kid_names_the_issuer_for_a_refresh() -> None:
    token = sign("RS256", base_claims(), headers={"kid": "rotated-2"})
    with pytest.raises(JwtError) as e:
        rsa_verifier().verify(token, now=NOW)
    assert (e.value.code, e.value.issuer) == ("unknown_kid", ISS)
    assert "rotated-2" not in str(e.value)
    # After the "refresh", the new key verifies.
    keys = JwtKeySet.from_pem(SIGNERS["rsa"].pem or b"", kid="rotated-2")
    ver = JwtVerifier([JwtIssuer(ISS, JwtKeySet.from_pem(SIGNERS["rsa"].pem or b"", kid=KID))])
    ver.replace_issuer(JwtIssuer(ISS, keys))
    assert ver.verify(token, now=NOW).key_id == "rotated-2"


def test_alg_and_key_family_mismatch() -> None:
    every = [SIGNERS[f].pem for f in ["rsa", "p256", "p384", "ed"]]
    for alg in ASYMMETRIC:
        token = sign(alg, base_claims())
        # The same kid on keys of every other family only.
        others = [
            JwtKeySet.from_pem(pem or b"", kid=KID)
            for f, pem in zip(["rsa", "p256", "p384", "ed"], every, strict=True)
            if f != FAMILY[alg]
        ]
        keys = (
            others[0]
            .merged(others[1])
            .merged(others[2])
            .merged(JwtKeySet.from_secret(SIGNERS["hmac"].private, kid=KID))
        )
        ver = JwtVerifier([JwtIssuer(ISS, keys, algorithms=ALGS)], cache_size=0)
        assert native_outcome(ver, token) == "key_mismatch", alg
    # A secret-only issuer refuses RS256 even with RS256 allowed, and a pinned key refuses others.
    token = sign("RS256", base_claims())
    ver = JwtVerifier(
        [JwtIssuer(ISS, JwtKeySet.from_secret(SIGNERS["hmac"].private, kid=KID), algorithms=ALGS)]
    )
    assert native_outcome(ver, token) == "key_mismatch"
    pinned = JwtKeySet.from_pem(SIGNERS["rsa"].pem or b"", kid=KID, alg="PS256")
    assert native_outcome(JwtVerifier([JwtIssuer(ISS, pinned)]), token) == "key_mismatch"


def test_sizes() -> None:
    big = sign("HS256", base_claims(pad="x" * 9000))
    assert len(big) > 8192
    assert native_outcome(verifier("HS256"), big) == "too_large"
    assert native_outcome(verifier("HS256"), "a" * 100_000) == "too_large"
    assert native_outcome(verifier("HS256", max_token_bytes=20_000), big) == "ok"
    small = sign("HS256", base_claims(pad="x" * 200))
    assert native_outcome(verifier("HS256", max_token_bytes=len(small)), small) == "ok"
    assert native_outcome(verifier("HS256", max_token_bytes=len(small) - 1), small) == "too_large"


def test_malformed_encodings() -> None:
    good = sign("HS256", base_claims())
    h, p, s = good.split(".")
    assert native_outcome(verifier("HS256"), good) == "ok"
    variants = [
        f"{h}=.{p}.{s}",
        f"{h}.{p}==.{s}",
        f"{h}.{p}.{s}=",
        f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}+",
        f"{h}.{p}.+{s[1:]}",
        f"{h}.{p}./{s[1:]}",
        f" {good}",
        f"{good}\n",
        f"{h}.{p} .{s}",
        f"{h}.\t{p}.{s}",
        f"{h}..{s}",
        f".{p}.{s}",
        f"{h}.{p}",
        f"{h}.{p}.{s}.{s}",
        f"{h}.{p}.{s}.",
        "..",
        "",
        f"{h[:-1]}.{p}.{s}",
        f"{h}.{p}.{s}".replace(".", "\u2024"),
    ]
    for token in variants:
        assert native_outcome(verifier("HS256"), token) == "malformed", token
    assert native_outcome(verifier("HS256"), f"{h}.{p}.") == "bad_signature"


@pytest.mark.parametrize(
    ("header", "payload", "code"),
    [
        ("[]", None, "malformed"),
        ('"HS256"', None, "malformed"),
        ("null", None, "malformed"),
        ("{}", None, "malformed"),
        ('{"alg": 256}', None, "malformed"),
        ('{"alg": "HS256", "alg": "HS256"}', None, "malformed"),
        ('{"alg": "HS256", "kid": 1}', None, "malformed"),
        ('{"alg": "HS256"}', "[]", "malformed"),
        ('{"alg": "HS256"}', '"x"', "malformed"),
        ('{"alg": "HS256"}', "42", "malformed"),
        ('{"alg": "HS256"}', "{", "malformed"),
        ('{"alg": "HS256", "crit": ["exp"]}', None, "unsupported"),
        ('{"alg": "HS256", "crit": ["b64"], "b64": false}', None, "unsupported"),
        ('{"alg": "HS256"}', json.dumps(base_claims(exp=str(NOW + 600))), "malformed"),
        ('{"alg": "HS256"}', json.dumps(base_claims(exp=None)), "malformed"),
        ('{"alg": "HS256"}', json.dumps(base_claims(nbf="0")), "malformed"),
        ('{"alg": "HS256"}', json.dumps(base_claims(sub=7)), "malformed"),
        ('{"alg": "HS256"}', json.dumps(base_claims(aud=["a", 1])), "malformed"),
        ('{"alg": "HS256"}', json.dumps(base_claims(exp=NOW + 600.5)), "ok"),
        ('{"alg": "HS256", "jwk": {"kty": "oct", "k": "AAAA"}, "jku": "https://evil"}', None, "ok"),
    ],
)
def test_header_and_payload_shapes(header: str, payload: str | None, code: str) -> None:
    body = payload if payload is not None else json.dumps(base_claims())
    token = hs256_raw(header, body, SIGNERS["hmac"].private)
    assert native_outcome(verifier("HS256"), token) == code


# --------------------------------------------------------------------------- cache


def test_cache_hit_is_equal_and_much_faster() -> None:
    token = TAMPER_TOKENS["RS256"]
    cached = verifier("RS256", audiences=["brutor"], cache_size=100)
    fresh = verifier("RS256", audiences=["brutor"], cache_size=0)
    first = cached.verify(token, now=NOW)
    assert cached.cache_len == 1 and fresh.cache_len == 0
    second = cached.verify(token, now=NOW)
    assert fields(first) == fields(second) == fields(fresh.verify(token, now=NOW))
    n = 300
    t_fresh = min(_timed(lambda: fresh.verify(token, now=NOW), n) for _ in range(3))
    t_hit = min(_timed(lambda: cached.verify(token, now=NOW), n) for _ in range(3))
    assert t_hit * 5 < t_fresh, (t_hit / n, t_fresh / n)


def _timed(f: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return time.perf_counter() - t0


def fields(v: VerifiedToken) -> tuple[Any, ...]:
    return (
        v.subject,
        v.issuer,
        v.audiences,
        v.expires_at,
        v.not_before,
        v.issued_at,
        v.key_id,
        v.algorithm,
        v.claims_json,
    )


def test_cached_token_is_rechecked_against_now() -> None:
    token = sign("ES256", base_claims(exp=NOW + 100, nbf=NOW - 10))
    ver = verifier("ES256", cache_size=100, leeway=0)
    assert native_outcome(ver, token) == "ok" and ver.cache_len == 1
    assert native_outcome(ver, token, now=NOW + 99) == "ok"
    assert native_outcome(ver, token, now=NOW + 100) == "expired"
    assert native_outcome(ver, token, now=NOW + 10**9) == "expired"
    assert native_outcome(ver, token, now=NOW - 11) == "not_yet_valid"
    assert native_outcome(ver, token, now=NOW) == "ok"


def test_cache_follows_issuer_replacement_and_is_bounded() -> None:
    token = sign("RS256", base_claims())
    ver = verifier("RS256", cache_size=8)
    assert native_outcome(ver, token) == "ok" and ver.cache_len == 1
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    other_pem = other.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    ver.replace_issuer(JwtIssuer(ISS, JwtKeySet.from_pem(other_pem, kid=KID), algorithms=["RS256"]))
    assert ver.cache_len == 0
    assert native_outcome(ver, token) == "bad_signature"
    with pytest.raises(JwtError) as e:
        ver.replace_issuer(JwtIssuer("https://unknown.example", JwtKeySet.from_pem(other_pem)))
    assert e.value.code == "bad_config"
    hs = verifier("HS256", cache_size=8)
    for i in range(50):
        assert native_outcome(hs, sign("HS256", base_claims(i=i))) == "ok"
        assert hs.cache_len <= 8
    no_exp = sign("HS256", {"iss": ISS})
    lax = verifier("HS256", cache_size=8, require_exp=False)
    assert native_outcome(lax, no_exp) == "ok" and lax.cache_len == 0  # never cached without exp


# --------------------------------------------------------------------------- API surface


def test_input_types() -> None:
    token = sign("EdDSA", base_claims())
    ver = verifier("EdDSA")
    inputs: list[str | bytes | bytearray | memoryview] = [
        token,
        token.encode(),
        bytearray(token.encode()),
        memoryview(token.encode()),
    ]
    results = [fields(ver.verify(t, now=NOW)) for t in inputs]
    assert all(r == results[0] for r in results)
    with pytest.raises(TypeError):
        ver.verify(12345, now=NOW)  # type: ignore[arg-type]
    for odd in ["\ud800", token + "\ud800", token.replace(".", "\u00e9", 1)]:
        assert native_outcome(ver, odd) == "malformed"
    pem = SIGNERS["ed"].pem or b""
    assert len(JwtKeySet.from_pem(pem.decode())) == len(JwtKeySet.from_pem(bytearray(pem))) == 1
    assert len(JwtKeySet.from_jwks(json.dumps({"keys": [SIGNERS["ed"].jwk]}).encode())) == 1


def test_default_now_is_the_clock() -> None:
    ver = verifier("HS256")
    assert native_outcome(ver, sign("HS256", base_claims(exp=int(time.time()) + 120)), now=None) == "ok"  # type: ignore[arg-type]
    assert native_outcome(ver, sign("HS256", base_claims(exp=int(time.time()) - 120)), now=None) == "expired"  # type: ignore[arg-type]


def test_key_sets() -> None:
    a = JwtKeySet.from_jwks(
        json.dumps(
            {
                "keys": [
                    dict(SIGNERS["rsa"].jwk, kid="a"),
                    dict(SIGNERS["ed"].jwk, kid="b"),
                    {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
                ]
            }
        )
    )
    b = JwtKeySet.from_secret(SIGNERS["hmac"].private, kid="c", alg="HS512")
    assert (len(a), a.kids()) == (2, ["a", "b"])
    m = a.merged(b)
    assert (len(m), m.kids(), len(a)) == (3, ["a", "b", "c"], 2)
    shown = repr(m)
    assert shown.startswith("JwtKeySet(3 keys: RSA-2048") and 'kid="c"' in shown and "alg=HS512" in shown
    for secret_bit in [
        SIGNERS["rsa"].jwk["n"][:12],
        SIGNERS["ed"].jwk["x"][:12],
        SIGNERS["hmac"].jwk["k"][:12],
        SIGNERS["hmac"].private.hex()[:12],
    ]:
        assert secret_bit not in shown
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: JwtKeySet.from_jwks(b'{"keys": []}'), "bad_key"),
        (lambda: JwtKeySet.from_jwks(b"not json"), "bad_key"),
        (
            lambda: JwtKeySet.from_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            "bad_key",
        ),
        (lambda: JwtKeySet.from_pem(SIGNERS["rsa"].pem or b"", alg="ES256"), "bad_key"),
        (lambda: JwtKeySet.from_pem(SIGNERS["rsa"].pem or b"", alg="XS256"), "unsupported"),
        (lambda: JwtKeySet.from_pem(SIGNERS["rsa"].pem or b"", kid="../x"), "bad_key"),
        (lambda: JwtKeySet.from_secret(b"short", alg="HS256"), "bad_key"),
        (lambda: JwtKeySet.from_secret(b"x" * 40, alg="HS384"), "bad_key"),
        (lambda: JwtKeySet.from_secret(b"x" * 64, alg="RS256"), "bad_key"),
    ]
    for bad, code in cases:
        with pytest.raises(JwtError) as e:
            bad()
        assert e.value.code == code


def test_private_and_weak_keys_are_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_pem = weak.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    private_pem = weak.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    k1 = ec.generate_private_key(ec.SECP256K1()).public_key()
    k1_pem = k1.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(ser.Encoding.X962, ser.PublicFormat.CompressedPoint)
    )
    spki = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200") + point
    compressed_pem = (
        b"-----BEGIN PUBLIC KEY-----\n" + base64.encodebytes(spki) + b"-----END PUBLIC KEY-----\n"
    )
    pkcs1 = SIGNERS["rsa"].public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.PKCS1)
    for pem, code in [
        (weak_pem, "bad_key"),
        (private_pem, "bad_key"),
        (k1_pem, "unsupported"),
        (compressed_pem, "unsupported"),
    ]:
        with pytest.raises(JwtError) as e:
            JwtKeySet.from_pem(pem)
        assert e.value.code == code
    assert len(JwtKeySet.from_pem(pkcs1)) == 1
    token = sign("RS256", base_claims())
    assert native_outcome(JwtVerifier([JwtIssuer(ISS, JwtKeySet.from_pem(pkcs1, kid=KID))]), token) == "ok"


def test_issuer_policy_object() -> None:
    keys = JwtKeySet.from_pem(SIGNERS["ed"].pem or b"", kid=KID)
    issuer = JwtIssuer(
        ISS, keys, audiences=("a", "b"), required_claims=["tenant"], leeway=5, max_token_bytes=4096
    )
    assert issuer.issuer == ISS and issuer.audiences == ["a", "b"] and issuer.required_claims == ["tenant"]
    assert (
        issuer.algorithms == ASYMMETRIC
        and issuer.leeway == 5
        and issuer.require_exp
        and issuer.max_token_bytes == 4096
    )
    assert issuer.keys.kids() == [KID]
    swapped = issuer.with_keys(JwtKeySet.from_pem(SIGNERS["p256"].pem or b"", kid="p"))
    assert swapped.keys.kids() == ["p"] and swapped.audiences == ["a", "b"] and issuer.keys.kids() == [KID]
    refused: list[Callable[[], object]] = [
        lambda: JwtIssuer("", keys),
        lambda: JwtIssuer(ISS, keys, algorithms=[]),
        lambda: JwtIssuer(ISS, keys, algorithms=["HS256"]),  # no key serves it
        lambda: JwtIssuer(ISS, keys, audiences=[""]),
        lambda: JwtIssuer(ISS, keys, max_token_bytes=0),
        lambda: JwtVerifier([]),
        lambda: JwtVerifier([issuer, swapped]),  # same issuer twice
    ]
    for bad in refused:
        with pytest.raises(JwtError) as e:
            bad()
        assert e.value.code == "bad_config"
        assert isinstance(e.value, ValueError) and e.value.issuer is None
    with pytest.raises(TypeError):
        JwtIssuer(ISS, keys, audiences="brutor")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        JwtIssuer(ISS, keys, leeway=-1)


def test_results_are_frozen() -> None:
    got = verifier("EdDSA").verify(sign("EdDSA", base_claims()), now=NOW)
    with pytest.raises(AttributeError):
        got.subject = "admin"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        got.foo = 1  # type: ignore[attr-defined]
    assert (
        repr(got)
        == f"VerifiedToken(issuer='{ISS}', subject='user-1', algorithm='EdDSA', key_id='{KID}', expires_at={NOW + 600})"
    )


def test_error_messages_never_echo_token_or_key() -> None:
    marker = "ZZMARKERZZ"
    secret = SIGNERS["hmac"].private
    tokens = [
        hs256_raw(json.dumps({"alg": marker}), json.dumps(base_claims()), secret),
        hs256_raw(json.dumps({"alg": "HS256", "kid": marker}), json.dumps(base_claims()), secret),
        hs256_raw(json.dumps({"alg": "HS256", "kid": "../" + marker}), json.dumps(base_claims()), secret),
        hs256_raw('{"alg": "HS256"}', json.dumps(base_claims(iss=marker)), secret),
        hs256_raw('{"alg": "HS256"}', json.dumps(base_claims(exp=marker)), secret),
        hs256_raw('{"alg": "HS256"}', json.dumps(base_claims(aud=marker)), secret),
        f"{marker}.{marker}.{marker}",
        marker * 1000,
    ]
    ver = verifier("HS256", audiences=["brutor"])
    for token in tokens:
        with pytest.raises(JwtError) as e:
            ver.verify(token, now=NOW)
        msg = str(e.value) + repr(e.value)
        assert marker not in msg and token[:20] not in msg and secret.hex()[:8] not in msg
