"""Service-account tokens: google-auth's real JWT-bearer grant against the mock token endpoint, run off
the event loop, cached until near expiry, one refresh shared by concurrent callers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mock_vertex import MockVertex

from brutor.providers.vertex_auth import _MARGIN, AccessTokens, TokenError


def _spy_threads(tokens: AccessTokens) -> list[str]:
    names: list[str] = []
    inner = tokens._refresh_blocking

    def spy() -> tuple[str, float]:
        names.append(threading.current_thread().name)
        return inner()

    tokens._refresh_blocking = spy  # type: ignore[method-assign]
    return names


def test_token_is_fetched_off_the_loop_and_cached(vertex_mock: MockVertex, sa_file: Path) -> None:
    tokens = AccessTokens(str(sa_file))
    threads = _spy_threads(tokens)
    before = vertex_mock.token_requests

    async def main() -> list[str]:
        loop_thread = threading.current_thread().name
        got = [await tokens.get() for _ in range(5)]
        assert threads and all(name != loop_thread for name in threads)
        return got

    got = asyncio.run(main())
    assert len(set(got)) == 1 and got[0].startswith("ya29.mock-")
    assert vertex_mock.token_requests == before + 1
    assert tokens.refreshes == 1
    # Replaced _MARGIN seconds before the hour is up, not at every request.
    assert tokens._refresh_at - time.monotonic() == pytest.approx(3600 - _MARGIN, abs=5)


def test_concurrent_callers_share_one_refresh(vertex_mock: MockVertex, sa_file: Path) -> None:
    tokens = AccessTokens(str(sa_file))
    before = vertex_mock.token_requests

    async def main() -> list[str]:
        return await asyncio.gather(*(tokens.get() for _ in range(20)))

    assert len(set(asyncio.run(main()))) == 1
    assert vertex_mock.token_requests == before + 1


def test_refreshed_near_expiry_and_after_invalidate(vertex_mock: MockVertex, sa_file: Path) -> None:
    tokens = AccessTokens(str(sa_file))
    vertex_mock.server.expires_in = 2  # shorter than the margin: replaced after half its life
    try:

        async def main() -> tuple[str, str, str, str]:
            first = await tokens.get()
            again = await tokens.get()
            await asyncio.sleep(1.1)
            renewed = await tokens.get()
            tokens.invalidate()
            return first, again, renewed, await tokens.get()

        first, again, renewed, after_invalidate = asyncio.run(main())
    finally:
        vertex_mock.server.expires_in = 3600
    assert first == again
    assert renewed != first
    assert after_invalidate != renewed
    assert tokens.refreshes == 3


def test_wrong_key_is_a_token_error_without_details(vertex_mock: MockVertex, tmp_path: Path) -> None:
    info: dict[str, Any] = vertex_mock.service_account()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    with pytest.raises(TokenError) as exc:
        asyncio.run(AccessTokens(str(path)).get())
    assert str(exc.value) == "Google credentials could not be refreshed (RefreshError)"


def test_missing_file_is_a_token_error(tmp_path: Path) -> None:
    with pytest.raises(TokenError, match="FileNotFoundError"):
        asyncio.run(AccessTokens(str(tmp_path / "absent.json")).get())


def test_unreachable_token_endpoint(vertex_mock: MockVertex, tmp_path: Path) -> None:
    info = vertex_mock.service_account()
    info["token_uri"] = "http://127.0.0.1:9/token"  # discard port: nothing listens
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    with pytest.raises(TokenError, match=r"TransportError|RefreshError"):
        asyncio.run(AccessTokens(str(path), timeout=5).get())
