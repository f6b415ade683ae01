"""Bearer JWTs → principals: native verification, claims mapped to tenant, groups and e-mail, and the
keys of JWKS issuers kept fresh in the background."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from pyreqwest.client import Client, ClientBuilder

from brutor._native import JwtError, JwtIssuer, JwtVerifier
from brutor.config import JwtConfig, JwtIssuerConfig
from brutor.context import Principal
from brutor.errors import forbidden, unauthorized
from brutor.identity.keysource import KeySourceError, fetch_jwks, load_keys

log = logging.getLogger("brutor.identity")


def looks_like_jwt(credential: str) -> bool:
    """Compact JWS: three base64url segments; API keys never contain dots."""
    return credential.count(".") == 2


class JwtAuthenticator:
    def __init__(self, cfg: JwtConfig) -> None:
        self._by_issuer: dict[str, JwtIssuerConfig] = {i.issuer: i for i in cfg.issuers}
        self._policies: dict[str, JwtIssuer] = {
            i.issuer: JwtIssuer(
                i.issuer,
                load_keys(i),
                audiences=i.audiences,
                algorithms=i.effective_algorithms,
                leeway=i.leeway,
                required_claims=i.required_claims,
            )
            for i in cfg.issuers
        }
        self._verifier = JwtVerifier(list(self._policies.values()), cache_size=cfg.cache_size)
        self._last_refresh: dict[str, float] = dict.fromkeys(self._by_issuer, time.monotonic())
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Schedule the periodic JWKS refresh on the worker's loop (if any issuer uses a JWKS URL)."""
        if any(i.jwks_url for i in self._by_issuer.values()):
            self._task = loop.create_task(self._refresh_forever())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._client is not None:
            await self._client.close()

    async def authenticate(self, token: str) -> Principal:
        try:
            verified = self._verifier.verify(token)
        except JwtError as exc:
            if exc.code == "unknown_kid" and exc.issuer is not None and await self._refresh(exc.issuer):
                try:
                    verified = self._verifier.verify(token)
                except JwtError as again:
                    raise _refused(again) from None
            else:
                raise _refused(exc) from None
        cfg = self._by_issuer[verified.issuer]
        claims = orjson.loads(verified.claims_json)
        tenants = _strings(claims.get(cfg.tenant_claim))
        if not tenants:
            if cfg.default_tenant is None:
                raise forbidden("The token names no tenant.", code="tenant_missing")
            tenants = (cfg.default_tenant,)
        email = claims.get(cfg.email_claim)
        return Principal(
            key_id=f"jwt:{cfg.name}",
            tenant=tenants[0],
            subject=verified.subject,
            groups=_strings(claims.get(cfg.groups_claim)),
            tenants=tenants,
            email=email if isinstance(email, str) else None,
        )

    async def _refresh(self, issuer: str) -> bool:
        """Re-fetch one issuer's JWKS if it has a URL and was not refreshed too recently."""
        cfg = self._by_issuer.get(issuer)
        if cfg is None or cfg.jwks_url is None:
            return False
        now = time.monotonic()
        if now - self._last_refresh[issuer] < cfg.jwks_min_refresh_seconds:
            return False
        self._last_refresh[issuer] = now
        if self._client is None:
            self._client = ClientBuilder().build()
        try:
            keys = await fetch_jwks(self._client, cfg)
        except KeySourceError as exc:
            log.warning("%s", exc)
            return False
        policy = self._policies[issuer].with_keys(keys)
        self._policies[issuer] = policy
        self._verifier.replace_issuer(policy)
        return True

    async def _refresh_forever(self) -> None:
        while True:
            interval = min(i.jwks_refresh_seconds for i in self._by_issuer.values() if i.jwks_url)
            await asyncio.sleep(interval)
            for issuer, cfg in self._by_issuer.items():
                if cfg.jwks_url and time.monotonic() - self._last_refresh[issuer] >= cfg.jwks_refresh_seconds:
                    await self._refresh(issuer)


def _refused(exc: JwtError) -> Exception:
    # The reason code is safe to show (it names the failed check); the token never is.
    return unauthorized(f"Invalid token ({exc.code}).")


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str) and v)
    return ()
