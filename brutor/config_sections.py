"""Operational config sections: tenants, the config store, the audit trail, tracing and metrics."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from brutor.config_model import ConfigModel

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]*$"


class TenantConfig(ConfigModel):
    """A tenant. Keys and tokens may name tenants that are not listed; a listed tenant can be disabled."""

    id: str = Field(min_length=1, max_length=128, pattern=_NAME)
    name: str | None = Field(None, max_length=256)
    # Every request for a disabled tenant is refused (403), whatever credential it carries.
    disabled: bool = False


class StoreConfig(ConfigModel):
    """Where tenants, keys, entitlements, limits and models live besides this file.

    ``file``: this file only (embedded default). ``postgres``: also PostgreSQL tables, managed through the
    admin API and watched by every worker (LISTEN/NOTIFY, plus a poll as a safety net); a name the
    database defines overrides the same name in this file."""

    backend: Literal["file", "postgres"] = "file"
    postgres_url: SecretStr | None = None
    # Schema holding Brutor's tables (created by the migrations at start-up).
    schema_name: str = Field("brutor", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    # Safety net for a missed notification (listener reconnecting): the version is polled this often.
    poll_seconds: float = Field(1.0, ge=0.1, le=60)

    @model_validator(mode="after")
    def _url_required(self) -> StoreConfig:
        if self.backend == "postgres":
            if self.postgres_url is None:
                raise ValueError("postgres_url: required for the postgres store")
            if urlsplit(self.postgres_url.get_secret_value()).scheme not in ("postgres", "postgresql"):
                raise ValueError("postgres_url: must be a postgres:// or postgresql:// URL")
        return self


class AuditConfig(ConfigModel):
    """The audit trail: one row per request, spooled locally before the final byte, written in batches."""

    # sqlite: a local file (embedded default); postgres: audit_log in the store's database and schema.
    sink: Literal["sqlite", "postgres", "off"] = "sqlite"
    sqlite_path: str | None = None  # default: <data_dir>/audit.db
    postgres_url: SecretStr | None = None  # default: store.postgres_url
    schema_name: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]{0,40}$")  # default: store.schema_name
    batch_size: int = Field(1000, ge=1, le=100_000)
    # How often spooled rows are written to the sink, and how often the spool is fsynced.
    flush_ms: int = Field(200, ge=1, le=60_000)
    fsync_ms: int = Field(20, ge=1, le=10_000)
    # Rows waiting for the sink may use this much disk; then on_spool_full decides: refuse new requests
    # (503, nothing goes unaudited) or serve them and drop their rows (counted in metrics).
    spool_max_mb: int = Field(1024, ge=1)
    on_spool_full: Literal["reject", "drop"] = "reject"


class TracingConfig(ConfigModel):
    enabled: bool = False
    sample_ratio: float = Field(1.0, ge=0, le=1)
    exporter: Literal["otlp", "console", "none"] = "otlp"
    # OTLP/HTTP traces endpoint (default: the exporter's, http://localhost:4318/v1/traces).
    endpoint: str | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    service_name: str = "brutor"


class MetricsConfig(ConfigModel):
    enabled: bool = True
    flush_seconds: float = Field(1.0, gt=0, le=60)
    # When set, /metrics answers only ``Authorization: Bearer <token>`` (Prometheus ``authorization``).
    bearer_token: SecretStr | None = Field(None, min_length=16)
