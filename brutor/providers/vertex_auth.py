"""Google OAuth access tokens for Vertex AI: fetched off the event loop, cached until near expiry.

google-auth's refresh is blocking HTTP (the JWT-bearer grant against the service account's
``token_uri``), so it runs in the default executor; concurrent requests that find the token stale wait
on one refresh instead of starting their own. A token lives an hour; it is replaced ``_MARGIN`` seconds
before it expires so a request never leaves with a token about to lapse in flight.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport
from google.oauth2 import service_account

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
# Replace a token this long before it expires (google-auth itself treats < 3m45s left as expired).
_MARGIN = 300.0
# When the issuer gives no expiry, assume a short life rather than forever.
_DEFAULT_LIFETIME = 600.0


class TokenError(Exception):
    """No access token could be obtained; the message is safe for logs (no key material)."""


class _TimedRequest(google.auth.transport.Request):
    """google-auth's transport with our own timeout (its default waits 120 s on a hung token endpoint)."""

    def __init__(self, timeout: float) -> None:
        import google.auth.transport.requests  # requests is only needed here, at refresh time

        self._inner = google.auth.transport.requests.Request()
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        return self._inner(url, method, body, headers, timeout=timeout or self._timeout, **kwargs)


class AccessTokens:
    """One cached OAuth token for one set of credentials (a service-account file, or ADC)."""

    def __init__(self, credentials_file: str | None, timeout: float = 30.0) -> None:
        self._file = credentials_file
        self._timeout = timeout
        self._credentials: Any = None
        self._request: _TimedRequest | None = None
        self._token: str | None = None
        self._refresh_at = 0.0  # time.monotonic() after which the cached token is not handed out
        self._lock: asyncio.Lock | None = None
        self.refreshes = 0

    async def get(self) -> str:
        token = self._token
        if token is not None and time.monotonic() < self._refresh_at:
            return token
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            # Another request may have refreshed while this one waited for the lock.
            cached = self._token
            if cached is not None and time.monotonic() < self._refresh_at:
                return cached
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(self._timeout):
                    fresh, lifetime = await loop.run_in_executor(None, self._refresh_blocking)
            except TimeoutError:
                raise TokenError("the Google token endpoint did not answer in time") from None
            self._token = fresh
            self._refresh_at = time.monotonic() + max(lifetime - _MARGIN, lifetime / 2)
            return fresh

    def invalidate(self) -> None:
        """Forget the cached token (the upstream refused it: revoked key, clock skew)."""
        self._refresh_at = 0.0

    def _refresh_blocking(self) -> tuple[str, float]:
        try:
            if self._credentials is None:
                self._credentials = self._load()
                self._request = _TimedRequest(self._timeout)
            credentials = self._credentials
            credentials.refresh(self._request)
        except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
            # The exception text can quote the token endpoint's answer; keep only its kind.
            raise TokenError(f"Google credentials could not be refreshed ({type(exc).__name__})") from None
        token = credentials.token
        if not isinstance(token, str) or not token:
            raise TokenError("the Google token endpoint returned no access token")
        self.refreshes += 1
        expiry = credentials.expiry
        if isinstance(expiry, datetime):
            # google-auth keeps expiry as a naive UTC datetime.
            lifetime = expiry.replace(tzinfo=UTC).timestamp() - time.time()
        else:
            lifetime = _DEFAULT_LIFETIME
        return token, lifetime

    def _load(self) -> Any:
        if self._file is not None:
            return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                self._file, scopes=list(SCOPES)
            )
        credentials, _project = google.auth.default(scopes=list(SCOPES))
        return credentials
