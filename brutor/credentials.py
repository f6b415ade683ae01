"""Provider credentials that can change while the gateway runs: from the environment, a file, or
HashiCorp Vault KV v2.

A provider's ``api_key`` (or another secret field) may hold a reference instead of the secret:
``env:NAME``, ``file:/path/to/secret`` or ``vault:<path>#<field>`` (KV v2 under ``vault.mount``). The
value is read at start-up (an unreadable reference stops start-up, naming the reference, never a value)
and then refreshed in the background — files when they change, Vault every ``vault.refresh_seconds`` —
so a rotated key is used without a restart. Providers read ``get_secret_value()`` per request.
Values never appear in logs, errors or reprs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator

from brutor.config_model import ConfigModel

log = logging.getLogger("brutor.credentials")

_FILE_CHECK_SECONDS = 1.0


class VaultConfig(ConfigModel):
    url: str = Field(pattern=r"^https?://")
    token: SecretStr | None = None
    # A file holding the token (e.g. written by a Vault agent), re-read at each refresh.
    token_file: str | None = None
    mount: str = "secret"
    namespace: str | None = None
    refresh_seconds: float = Field(60.0, ge=1, le=86400)
    timeout_seconds: float = Field(5.0, gt=0, le=60)

    @model_validator(mode="after")
    def _one_token(self) -> VaultConfig:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("set exactly one of token, token_file")
        return self


class CredentialError(RuntimeError):
    """A reference could not be resolved; the message names the reference, never a value."""


def is_reference(value: str) -> bool:
    return value.startswith(("env:", "file:", "vault:"))


class Credential:
    """The current value of one reference."""

    def __init__(self, ref: str, vault: VaultConfig | None) -> None:
        self.ref = ref
        self._vault = vault
        self._mtime: int | None = None
        self.value = self._read()

    def __repr__(self) -> str:
        return f"Credential({self.ref!r})"

    def _read(self) -> str:
        kind, _, rest = self.ref.partition(":")
        if kind == "env":
            value = os.environ.get(rest)
            if not value:
                raise CredentialError(f"credential {self.ref}: environment variable not set")
            return value
        if kind == "file":
            try:
                path = Path(rest)
                self._mtime = path.stat().st_mtime_ns
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise CredentialError(f"credential {self.ref}: cannot read ({exc.strerror})") from None
        return self._read_vault(rest)

    def _read_vault(self, rest: str) -> str:
        if self._vault is None:
            raise CredentialError(f"credential {self.ref}: no vault section in the config")
        path, _, field = rest.partition("#")
        if not path or not field:
            raise CredentialError(f"credential {self.ref}: expected vault:<path>#<field>")
        import hvac  # imported only when Vault is used
        import requests

        cfg = self._vault
        token = cfg.token.get_secret_value() if cfg.token is not None else _read_token(cfg.token_file)
        client = hvac.Client(url=cfg.url, token=token, namespace=cfg.namespace, timeout=cfg.timeout_seconds)
        try:
            answer = client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=cfg.mount, raise_on_deleted_version=True
            )
            value = answer["data"]["data"][field]
        except (hvac.exceptions.VaultError, requests.RequestException, KeyError, TypeError) as exc:
            raise CredentialError(
                f"credential {self.ref}: Vault read failed ({type(exc).__name__})"
            ) from None
        finally:
            client.adapter.close()
        if not isinstance(value, str) or not value:
            raise CredentialError(f"credential {self.ref}: the field is empty or not a string")
        return value

    def changed_on_disk(self) -> bool:
        if not self.ref.startswith("file:"):
            return False
        try:
            return Path(self.ref[5:]).stat().st_mtime_ns != self._mtime
        except OSError:
            return False

    def refresh(self) -> bool:
        """Read again (blocking: call it off the event loop); True when the value changed."""
        new = self._read()
        if new == self.value:
            return False
        self.value = new
        return True


def _read_token(path: str | None) -> str:
    assert path is not None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(f"vault token_file: cannot read ({exc.strerror})") from None


class LiveSecret(SecretStr):
    """A ``SecretStr`` whose value follows its credential (providers need no change to get rotation)."""

    def __init__(self, credential: Credential) -> None:
        super().__init__("")
        self._credential = credential

    def get_secret_value(self) -> str:
        return self._credential.value


class Credentials:
    """Every reference of a config, resolved once, refreshed in the background of each worker."""

    def __init__(self, vault: VaultConfig | None) -> None:
        self._vault = vault
        self._all: dict[str, Credential] = {}
        self._task: asyncio.Task[None] | None = None

    def secret(self, value: SecretStr | None) -> SecretStr | None:
        """``value`` itself, or a live secret when it holds a reference."""
        if value is None or not is_reference(value.get_secret_value()):
            return value
        ref = value.get_secret_value()
        cred = self._all.get(ref)
        if cred is None:
            cred = self._all[ref] = Credential(ref, self._vault)
        return LiveSecret(cred)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._all:
            self._task = loop.create_task(self._refresh_loop())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        vault_every = self._vault.refresh_seconds if self._vault is not None else 60.0
        since_vault = 0.0
        while True:
            await asyncio.sleep(_FILE_CHECK_SECONDS)
            since_vault += _FILE_CHECK_SECONDS
            due_vault = since_vault >= vault_every
            if due_vault:
                since_vault = 0.0
            for cred in self._all.values():
                if cred.changed_on_disk() or (due_vault and cred.ref.startswith("vault:")):
                    await self._refresh(loop, cred)

    async def _refresh(self, loop: asyncio.AbstractEventLoop, cred: Credential) -> None:
        try:
            if await loop.run_in_executor(None, cred.refresh):
                log.warning("credential %s rotated", cred.ref)
        except CredentialError as exc:
            # Keep serving with the last good value; say so once per failure.
            log.warning("%s; keeping the previous value", exc)
        except Exception as exc:
            log.warning(
                "credential %s: refresh failed (%s); keeping the previous value", cred.ref, type(exc).__name__
            )


SECRET_FIELDS = (
    "api_key",
    "azure_ad_token",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
)


def with_live_secrets(cfg: Any, credentials: Credentials) -> Any:
    """A copy of a provider config whose secret fields follow their references."""
    update = {}
    for name in SECRET_FIELDS:
        value = getattr(cfg, name, None)
        live = credentials.secret(value)
        if live is not value:
            update[name] = live
    return cfg.model_copy(update=update) if update else cfg
