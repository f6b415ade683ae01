"""Where an issuer's verification keys come from: a JWKS URL, a JWKS file, a PEM file or a secret.

Fetching happens at start-up and in the background, never on a request's path (except the one
rate-limited refresh an unknown ``kid`` may trigger).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from pyreqwest.client import Client

from brutor._native import JwtKeySet
from brutor.config import JwtIssuerConfig

_FETCH_TIMEOUT = timedelta(seconds=5)
_MAX_JWKS_BYTES = 1024 * 1024


class KeySourceError(RuntimeError):
    """Keys could not be loaded; the message names the issuer and the source, never key material."""


def load_keys(cfg: JwtIssuerConfig) -> JwtKeySet:
    """Load an issuer's keys synchronously (start-up)."""
    try:
        if cfg.hs_secret is not None:
            secret = cfg.hs_secret.get_secret_value().encode()
            # One key per allowed HS algorithm: a secret key is pinned to its algorithm.
            keys = [JwtKeySet.from_secret(secret, alg=alg) for alg in cfg.effective_algorithms]
            merged = keys[0]
            for more in keys[1:]:
                merged = merged.merged(more)
            return merged
        if cfg.pem_file is not None:
            return JwtKeySet.from_pem(Path(cfg.pem_file).read_bytes())
        if cfg.jwks_file is not None:
            return JwtKeySet.from_jwks(Path(cfg.jwks_file).read_bytes())
        assert cfg.jwks_url is not None
        # urllib, not pyreqwest: this also runs in the parent process before granian forks its workers,
        # and a Tokio runtime started before a fork is unusable in the child.
        request = urllib.request.Request(cfg.jwks_url, headers={"accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=_FETCH_TIMEOUT.total_seconds()) as response:  # noqa: S310
                return _jwks_from_response(cfg, response.status, response.read(_MAX_JWKS_BYTES + 1))
        except urllib.error.HTTPError as exc:
            return _jwks_from_response(cfg, exc.code, b"")
    except KeySourceError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        raise KeySourceError(f"jwt issuer '{cfg.name}': cannot load keys: {type(exc).__name__}") from None


async def fetch_jwks(client: Client, cfg: JwtIssuerConfig) -> JwtKeySet:
    """Fetch an issuer's JWKS again (background refresh or an unknown ``kid``)."""
    assert cfg.jwks_url is not None
    try:
        response = await client.get(cfg.jwks_url).timeout(_FETCH_TIMEOUT).build().send()
        body = (await response.bytes()).to_bytes()
    except (OSError, RuntimeError) as exc:
        raise KeySourceError(f"jwt issuer '{cfg.name}': JWKS fetch failed: {type(exc).__name__}") from None
    try:
        return _jwks_from_response(cfg, response.status, body)
    except ValueError as exc:
        raise KeySourceError(f"jwt issuer '{cfg.name}': JWKS unusable: {type(exc).__name__}") from None


def _jwks_from_response(cfg: JwtIssuerConfig, status: int, body: bytes) -> JwtKeySet:
    if status != 200:
        raise KeySourceError(f"jwt issuer '{cfg.name}': JWKS URL answered {status}")
    if len(body) > _MAX_JWKS_BYTES:
        raise KeySourceError(f"jwt issuer '{cfg.name}': JWKS document over {_MAX_JWKS_BYTES} bytes")
    return JwtKeySet.from_jwks(body)
