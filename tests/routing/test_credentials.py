"""Credentials from env, files and Vault KV v2 (a local server speaking its HTTP API via hvac)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vault_kv2 import VaultKv2

from brutor.config import ProviderConfig
from brutor.credentials import CredentialError, Credentials, LiveSecret, VaultConfig, with_live_secrets

TOKEN = "hvs.test-token-0123456789"


@pytest.fixture
def vault() -> VaultKv2:
    v = VaultKv2(TOKEN)
    v.put("llm/openai", {"api_key": "sk-from-vault-1"})
    yield v  # type: ignore[misc]
    v.close()


def test_vault_file_and_env_references(
    vault: VaultKv2, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = Credentials(VaultConfig(url=vault.url, token=SecretStr(TOKEN), refresh_seconds=1))
    secret = creds.secret(SecretStr("vault:llm/openai#api_key"))
    assert isinstance(secret, LiveSecret) and secret.get_secret_value() == "sk-from-vault-1"
    assert "sk-from-vault" not in repr(secret) and "sk-from-vault" not in str(secret)
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    assert creds.secret(SecretStr(f"file:{key_file}")).get_secret_value() == "sk-from-file"  # type: ignore[union-attr]
    monkeypatch.setenv("TEST_UPSTREAM_KEY", "sk-from-env")
    assert creds.secret(SecretStr("env:TEST_UPSTREAM_KEY")).get_secret_value() == "sk-from-env"  # type: ignore[union-attr]
    plain = SecretStr("sk-plain-0123")
    assert creds.secret(plain) is plain


def test_rotation_without_restart(vault: VaultKv2, tmp_path: Path) -> None:
    async def go() -> None:
        creds = Credentials(VaultConfig(url=vault.url, token=SecretStr(TOKEN), refresh_seconds=1))
        key_file = tmp_path / "key"
        key_file.write_text("file-v1")
        cfg = ProviderConfig(
            name="p",
            type="openai",
            base_url="http://x",
            api_key=SecretStr("vault:llm/openai#api_key"),
            azure_ad_token=SecretStr(f"file:{key_file}"),
        )
        live = with_live_secrets(cfg, creds)
        creds.start(asyncio.get_running_loop())
        assert live.api_key.get_secret_value() == "sk-from-vault-1"
        vault.put("llm/openai", {"api_key": "sk-from-vault-2"})
        key_file.write_text("file-v2")
        for _ in range(60):
            if (
                live.api_key.get_secret_value() == "sk-from-vault-2"
                and live.azure_ad_token.get_secret_value() == "file-v2"
            ):
                break
            await asyncio.sleep(0.05)
        assert live.api_key.get_secret_value() == "sk-from-vault-2"
        assert live.azure_ad_token.get_secret_value() == "file-v2"
        await creds.aclose()

    asyncio.run(go())


def test_unresolvable_references_name_the_reference_only(vault: VaultKv2) -> None:
    creds = Credentials(VaultConfig(url=vault.url, token=SecretStr("wrong-token-xyz"), refresh_seconds=1))
    with pytest.raises(CredentialError, match="vault:llm/openai#api_key") as info:
        creds.secret(SecretStr("vault:llm/openai#api_key"))
    assert "wrong-token" not in str(info.value)
    good = Credentials(VaultConfig(url=vault.url, token=SecretStr(TOKEN)))
    with pytest.raises(CredentialError, match="Vault read failed"):
        good.secret(SecretStr("vault:llm/missing#api_key"))
    with pytest.raises(CredentialError, match="expected vault"):
        good.secret(SecretStr("vault:llm/openai"))
    with pytest.raises(CredentialError, match="no vault section"):
        Credentials(None).secret(SecretStr("vault:llm/openai#api_key"))
    with pytest.raises(CredentialError, match="not set"):
        Credentials(None).secret(SecretStr("env:SURELY_NOT_SET_BRUTOR_VAR"))
