"""The fast SigV4 signer gives botocore's signature, byte for byte, whatever the request."""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from brutor.config import ProviderConfig
from brutor.providers.bedrock_sign import BedrockAuth


def botocore_signature(
    region: str, creds: Credentials, url: str, body: bytes, headers: dict[str, str], now: datetime
) -> dict[str, str]:
    """botocore's own SigV4 for the same request, at the same time: the reference."""

    class Clocked(SigV4Auth):  # type: ignore[misc]
        def add_auth(self, request: AWSRequest) -> None:
            request.context["timestamp"] = now.strftime(SIGV4_TIMESTAMP)
            self._modify_request_before_signing(request)
            canonical = self.canonical_request(request)
            self._inject_signature_to_request(
                request, self.signature(self.string_to_sign(request, canonical), request)
            )

    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    Clocked(creds, "bedrock", region).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


MODELS = [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.amazon.nova-pro-v1:0",
    "meta.llama3 70b/x",
    "arn:aws:bedrock:us-east-1:1:x",
]


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    stream=st.booleans(),
    body=st.binary(max_size=2000),
    token=st.none() | st.text(alphabet="ABCDEFabcdef0123456789+/=", min_size=10, max_size=40),
    extra=st.dictionaries(
        st.sampled_from(["x-team", "accept", "X-Custom-Thing"]),
        st.text(alphabet="abc  def-", min_size=1, max_size=12),
        max_size=2,
    ),
    second=st.integers(0, 86399),
)
def test_fast_signer_equals_botocore(
    model: str, stream: bool, body: bytes, token: str | None, extra: dict[str, str], second: int
) -> None:
    now = datetime(2026, 3, 4, second // 3600, (second // 60) % 60, second % 60, tzinfo=UTC)
    cfg = ProviderConfig(
        name="b",
        type="bedrock",
        region="eu-west-3",
        aws_access_key_id=SecretStr("AKIDEXAMPLE"),
        aws_secret_access_key=SecretStr("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
    )
    auth = BedrockAuth(cfg, clock=lambda: now)
    from urllib.parse import quote

    url = f"https://bedrock-runtime.eu-west-3.amazonaws.com/model/{quote(model, safe='')}/{'converse-stream' if stream else 'converse'}"
    headers = {"content-type": "application/json", **extra}
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    assert auth.sign(creds, url, body, headers) == botocore_signature(
        "eu-west-3", creds, url, body, headers, now
    )
