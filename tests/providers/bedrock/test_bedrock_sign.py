"""SigV4 signing of Bedrock requests at a fixed clock with fixed test credentials.

The golden Authorization header is checked three ways: as a literal, against a signer written here from
AWS's SigV4 specification (itself checked against the worked example of AWS's documentation), and
against botocore's stock ``SigV4Auth`` with its clock patched.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import quote, urlsplit

import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, RefreshableCredentials
from mock_bedrock import ACCESS_KEY, SECRET_KEY
from pydantic import SecretStr

from brutor.config import ProviderConfig
from brutor.errors import GatewayError
from brutor.providers import bedrock_sign
from brutor.providers.bedrock_sign import BedrockAuth

CLOCK = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
URL = "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.amazon.nova-lite-v1%3A0/converse"
BODY = orjson.dumps({"messages": [{"role": "user", "content": [{"text": "Hello"}]}]})
TOKEN = "FwoGZXIvYXdzEMockSessionToken//0123"
GOLDEN_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250102/us-east-1/bedrock/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, "
    "Signature=55834c2d6272b02ec2e09e6923bc0c18698b77c12a6a1699eacd42f97b5816aa"
)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_by_hand(
    method: str, url: str, headers: dict[str, str], body: bytes, amz_date: str, region: str, service: str
) -> str:
    """AWS SigV4 from the specification (non-S3: the path is URI-encoded once more)."""
    parts = urlsplit(url)
    all_headers = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    names = sorted(all_headers)
    canonical = "\n".join(
        [
            method,
            quote(parts.path, safe="/~"),
            parts.query,
            "".join(f"{n}:{' '.join(all_headers[n].split())}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"


def test_by_hand_signer_reproduces_the_aws_documentation_example() -> None:
    # "Create a signed AWS API request", IAM ListUsers at 20150830T123600Z with the example keys.
    got = sigv4_by_hand(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Amz-Date": "20150830T123600Z",
        },
        b"",
        "20150830T123600Z",
        "us-east-1",
        "iam",
    )
    assert got.endswith("Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")


def auth(**cfg: Any) -> BedrockAuth:
    base: dict[str, Any] = {"name": "b", "type": "bedrock", "region": "us-east-1"}
    return BedrockAuth(ProviderConfig(**{**base, **cfg}), clock=lambda: CLOCK)


def signed_headers(a: BedrockAuth) -> dict[str, str]:
    return asyncio.run(a.headers(URL, BODY, {"content-type": "application/json"}))


def test_golden_authorization_header() -> None:
    headers = signed_headers(auth(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY))
    assert headers == {
        "content-type": "application/json",
        "x-amz-date": "20250102T030405Z",
        "authorization": headers["authorization"],
    }
    by_hand = sigv4_by_hand(
        "POST",
        URL,
        {"content-type": "application/json", "x-amz-date": "20250102T030405Z"},
        BODY,
        "20250102T030405Z",
        "us-east-1",
        "bedrock",
    )
    assert headers["authorization"] == by_hand
    assert headers["authorization"] == GOLDEN_AUTHORIZATION


def test_matches_botocore_stock_signer_with_session_token() -> None:
    headers = signed_headers(
        auth(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, aws_session_token=TOKEN)
    )
    assert headers["x-amz-security-token"] == TOKEN
    assert "x-amz-security-token" in headers["authorization"].split("SignedHeaders=")[1]
    request = AWSRequest(method="POST", url=URL, data=BODY, headers={"content-type": "application/json"})
    with mock.patch("botocore.auth.get_current_datetime", return_value=CLOCK.replace(tzinfo=None)):
        SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, TOKEN), "bedrock", "us-east-1").add_auth(request)
    assert headers["authorization"] == request.headers["Authorization"]


def test_region_defaults_for_a_base_url_only_provider() -> None:
    a = BedrockAuth(
        ProviderConfig(
            name="b",
            type="bedrock",
            base_url="http://127.0.0.1:9",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
    )
    assert a.region == bedrock_sign.DEFAULT_REGION


def test_api_key_is_a_bearer_token() -> None:
    headers = signed_headers(auth(api_key="bedrock-key-1"))
    assert headers == {"content-type": "application/json", "authorization": "Bearer bedrock-key-1"}


class Rotating(SecretStr):
    """Stands in for brutor.credentials.LiveSecret: a value that changes between reads."""

    def __init__(self, values: list[str]) -> None:
        super().__init__("")
        self._values = values

    def get_secret_value(self) -> str:
        return self._values[0]


def test_rotating_secrets_are_read_per_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bedrock_sign, "LiveSecret", Rotating)
    values = [SECRET_KEY]
    a = auth(aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    a._keys = (SecretStr(ACCESS_KEY), Rotating(values), None)
    a._live = True
    first = signed_headers(a)["authorization"]
    values[0] = "another-secret"
    assert signed_headers(a)["authorization"] != first


def test_half_configured_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="both aws_access_key_id and aws_secret_access_key"):
        auth(aws_access_key_id=ACCESS_KEY)


def test_default_chain_resolved_once_off_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def chain() -> Any:
        calls.append(1)
        return Credentials(ACCESS_KEY, SECRET_KEY)

    monkeypatch.setattr(bedrock_sign, "_default_chain", chain)
    a = auth()
    assert signed_headers(a)["authorization"] == GOLDEN_AUTHORIZATION
    signed_headers(a)
    assert calls == [1]


def test_refreshable_chain_credentials_are_refreshed(monkeypatch: pytest.MonkeyPatch) -> None:
    refreshed: list[int] = []

    def refresh() -> dict[str, str]:
        refreshed.append(1)
        return {
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "token": TOKEN,
            "expiry_time": "2999-01-01T00:00:00Z",
        }

    creds = RefreshableCredentials.create_from_metadata(
        {"access_key": "old", "secret_key": "old", "token": "old", "expiry_time": "2000-01-01T00:00:00Z"},
        refresh_using=refresh,
        method="test",
    )
    monkeypatch.setattr(bedrock_sign, "_default_chain", lambda: creds)
    headers = signed_headers(auth())
    assert refreshed and headers["x-amz-security-token"] == TOKEN


def test_no_credentials_anywhere_is_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bedrock_sign, "_default_chain", lambda: None)
    with pytest.raises(GatewayError) as info:
        signed_headers(auth())
    assert info.value.status == 500 and info.value.code == "upstream_credentials_missing"
