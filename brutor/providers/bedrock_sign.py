"""Authentication of Bedrock requests: AWS SigV4 (brutor.providers.sigv4, checked against botocore's
signer in the tests) over the exact bytes sent, or a Bedrock API key.

Credentials, in order: the provider's ``aws_access_key_id``/``aws_secret_access_key`` (and
``aws_session_token``); else its ``api_key`` as a Bedrock API key (``Authorization: Bearer``); else
botocore's default chain (environment, shared files, container or instance role), resolved off the event
loop on first use and refreshed by botocore when temporary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# botocore ships no type information.
from botocore.credentials import Credentials, RefreshableCredentials  # type: ignore[import-untyped]
from pydantic import SecretStr

from brutor.config import ProviderConfig
from brutor.credentials import LiveSecret
from brutor.errors import GatewayError
from brutor.providers.sigv4 import SigV4Signer

SERVICE = "bedrock"
# The region of a provider that has only a base_url (a proxy or test server) and no region.
DEFAULT_REGION = "us-east-1"

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BedrockAuth:
    def __init__(self, cfg: ProviderConfig, clock: Clock = _utc_now) -> None:
        self._provider = cfg.name
        self.region = cfg.region or DEFAULT_REGION
        self._clock = clock
        self._signer = SigV4Signer(self.region, SERVICE)
        self._bearer: SecretStr | None = None
        self._keys: tuple[SecretStr, SecretStr, SecretStr | None] | None = None
        self._credentials: Any = None
        self._chain_resolved = False
        key_id, secret = cfg.aws_access_key_id, cfg.aws_secret_access_key
        if (key_id is None) != (secret is None):
            raise ValueError(
                f"provider '{cfg.name}': set both aws_access_key_id and aws_secret_access_key, or neither"
            )
        if key_id is not None and secret is not None:
            self._keys = (key_id, secret, cfg.aws_session_token)
            # Rotating secrets (LiveSecret, see brutor.credentials) are read per request.
            self._live = any(isinstance(s, LiveSecret) for s in self._keys)
            self._credentials = self._static_credentials()
            self._chain_resolved = True
        elif cfg.api_key is not None:
            self._bearer = cfg.api_key

    def _static_credentials(self) -> Any:
        assert self._keys is not None
        key_id, secret, token = self._keys
        session = token.get_secret_value() if token is not None else None
        return Credentials(key_id.get_secret_value(), secret.get_secret_value(), session)

    async def headers(self, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        """``headers`` plus the authentication headers for a POST of ``body`` to ``url``."""
        if self._bearer is not None:
            return {**headers, "authorization": f"Bearer {self._bearer.get_secret_value()}"}
        if self._keys is not None and self._live:
            return self.sign(self._static_credentials(), url, body, headers)
        credentials = await self._frozen_credentials()
        return self.sign(credentials, url, body, headers)

    def sign(self, credentials: Any, url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
        """The headers to send: ``headers`` (all of them signed, with ``host``), ``X-Amz-Date``,
        ``X-Amz-Security-Token`` for temporary credentials, and ``Authorization``."""
        # ``host`` is signed from the URL; the HTTP client sends the same value.
        return self._signer.sign(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            session_token=credentials.token,
            url=url,
            body=body,
            headers=headers,
            now=self._clock(),
        )

    async def _frozen_credentials(self) -> Any:
        if not self._chain_resolved:
            self._credentials = await asyncio.to_thread(_default_chain)
            self._chain_resolved = True
        creds = self._credentials
        if creds is None:
            raise GatewayError(
                500,
                f"No AWS credentials for provider '{self._provider}' (configure keys or an instance role).",
                type="api_error",
                code="upstream_credentials_missing",
            )
        if isinstance(creds, RefreshableCredentials) and creds.refresh_needed():
            # A refresh is a network call (STS, instance metadata): kept off the event loop.
            return await asyncio.to_thread(creds.get_frozen_credentials)
        return creds.get_frozen_credentials()


def _default_chain() -> Any:
    import botocore.session  # type: ignore[import-untyped]

    return botocore.session.Session().get_credentials()
