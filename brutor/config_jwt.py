"""JWT issuers in the config: where keys come from, which algorithms, which claims mean what."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from brutor.config_model import ConfigModel

_ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
_ALGORITHMS = frozenset((*_ASYMMETRIC, "HS256", "HS384", "HS512"))


class JwtIssuerConfig(ConfigModel):
    """One trusted token issuer. Exactly one key source: a JWKS URL (fetched off the hot path and
    refreshed), a JWKS file, a PEM public key file, or an HMAC secret."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    issuer: str = Field(min_length=1)
    # Accepted ``aud`` values. Empty: only tokens without an ``aud`` pass (RFC 7519 4.1.3), so a token
    # minted for another service is never accepted by default.
    audiences: tuple[str, ...] = ()
    # Default: every asymmetric algorithm, or HS256 for an hs_secret issuer.
    algorithms: tuple[str, ...] | None = None
    jwks_url: str | None = None
    jwks_file: str | None = None
    pem_file: str | None = None
    hs_secret: SecretStr | None = None
    leeway: int = Field(60, ge=0, le=3600)
    required_claims: tuple[str, ...] = ()
    # Where the tenant, groups and e-mail come from in the token's claims.
    tenant_claim: str = "tenant"
    groups_claim: str = "groups"
    email_claim: str = "email"
    # Used when the token carries no tenant claim; without it such tokens are refused.
    default_tenant: str | None = None
    # Allow- and deny-lists of resource names for principals of this issuer (as keys[].models/deny).
    models: tuple[str, ...] = ("*",)
    deny: tuple[str, ...] = ()
    jwks_refresh_seconds: float = Field(300.0, ge=5)
    # An unknown kid triggers a JWKS refresh at most this often (so forged kids cannot flood the IdP).
    jwks_min_refresh_seconds: float = Field(30.0, ge=1)

    @field_validator("algorithms")
    @classmethod
    def _known_algorithms(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        unknown = sorted(set(value) - _ALGORITHMS)
        if unknown or not value:
            raise ValueError(f"unknown or empty algorithms {unknown}; allowed: {sorted(_ALGORITHMS)}")
        return value

    @field_validator("jwks_url")
    @classmethod
    def _jwks_http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> JwtIssuerConfig:
        sources = [self.jwks_url, self.jwks_file, self.pem_file, self.hs_secret]
        if sum(s is not None for s in sources) != 1:
            raise ValueError("set exactly one of jwks_url, jwks_file, pem_file, hs_secret")
        algorithms = self.effective_algorithms
        hs = [a for a in algorithms if a.startswith("HS")]
        if self.hs_secret is not None and len(hs) != len(algorithms):
            raise ValueError("an hs_secret issuer allows only HS256/HS384/HS512 algorithms")
        if self.hs_secret is None and hs:
            raise ValueError("HS* algorithms need hs_secret (never a public key: algorithm confusion)")
        return self

    @property
    def effective_algorithms(self) -> tuple[str, ...]:
        if self.algorithms is not None:
            return self.algorithms
        return ("HS256",) if self.hs_secret is not None else _ASYMMETRIC


class JwtConfig(ConfigModel):
    issuers: tuple[JwtIssuerConfig, ...] = ()
    cache_size: int = Field(10000, ge=0)
