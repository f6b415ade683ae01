"""Identify: who is calling and for which tenant.

Two credential kinds arrive as bearer tokens: JWTs from configured issuers (verified in native code,
see ``brutor.identity.jwt_auth``) and API keys. Keys are looked up by a keyed digest, so the lookup
never compares secrets byte by byte and the table holds no plaintext.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import time
from collections.abc import Iterable

from brutor.config import KeyConfig
from brutor.context import Principal, RequestContext
from brutor.errors import forbidden, unauthorized
from brutor.identity import apikeys
from brutor.identity.jwt_auth import JwtAuthenticator, looks_like_jwt
from brutor.pipeline.reply import Reply

_MAX_CREDENTIAL = 4096


def bearer_credential(headers: object) -> str | None:
    """The credential from ``Authorization: Bearer …`` (or Azure-style ``api-key``), if any."""
    get = headers.get  # type: ignore[attr-defined]
    auth = get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer":
            token = token.strip()
            return token or None
        return None
    key: str | None = get("api-key")
    return key.strip() or None if key else None


class Identify:
    name = "identify"

    def __init__(
        self, keys: Iterable[KeyConfig], jwt: JwtAuthenticator | None = None, pepper: str | None = None
    ) -> None:
        self._jwt = jwt
        # With a pepper, digests match stored key hashes; without one, a per-process random key makes
        # the in-memory table useless outside this process.
        self._mac = apikeys.mac_key(pepper) if pepper is not None else secrets.token_bytes(32)
        self._principals: dict[bytes, Principal] = {}
        # Only keys that expire are listed here; the check costs one dict lookup otherwise.
        self._expiry: dict[bytes, float] = {}
        for k in keys:
            if k.revoked:
                continue
            digest = self._stored_digest(k)
            self._principals[digest] = Principal(
                key_id=k.id, tenant=k.tenant, tenants=(k.tenant, *(t for t in k.tenants if t != k.tenant))
            )
            if k.expires_at is not None:
                self._expiry[digest] = k.expires_at.timestamp()

    def _stored_digest(self, k: KeyConfig) -> bytes:
        if k.key is not None:
            return apikeys.digest(self._mac, k.key.get_secret_value())
        assert k.key_hash is not None  # config validation: exactly one of key, key_hash
        return bytes.fromhex(k.key_hash.removeprefix(apikeys.HASH_PREFIX))

    async def __call__(self, ctx: RequestContext) -> Reply | None:
        credential = bearer_credential(ctx.headers)
        if credential is None:
            raise unauthorized(
                "No API key provided. Send 'Authorization: Bearer <key>' with a key issued by this gateway."
            )
        principal = None
        if self._jwt is not None and looks_like_jwt(credential):
            principal = await self._jwt.authenticate(credential)
        elif len(credential) <= _MAX_CREDENTIAL:
            digest = apikeys.digest(self._mac, credential)
            principal = self._principals.get(digest)
            if principal is not None and self._expiry and time.time() >= self._expiry.get(digest, math.inf):
                raise unauthorized("This API key has expired.")
        if principal is None:
            # Never echo the credential back: it may be a real secret sent to the wrong place.
            raise unauthorized("Invalid API key.")
        requested = ctx.headers.get("x-tenant-id")
        if requested and requested != principal.tenant:
            principal = select_tenant(principal, requested)
        ctx.principal = principal
        return None


def select_tenant(principal: Principal, requested: str) -> Principal:
    """``X-Tenant-ID`` may pick any tenant the principal belongs to, and nothing else."""
    if requested not in principal.tenants:
        raise forbidden(
            f"This credential may not act for tenant '{requested[:128]}'.", code="tenant_not_allowed"
        )
    return dataclasses.replace(principal, tenant=requested)
