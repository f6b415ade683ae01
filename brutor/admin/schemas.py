"""Request and response bodies of the admin API (validated with pydantic; also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from brutor.config import Entitlement, LimitValues, Price

_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
Source = Literal["file", "database"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantCreate(_Body):
    id: str = Field(min_length=1, max_length=128, pattern=_ID)
    name: str | None = Field(None, max_length=256)
    disabled: bool = False


class TenantPatch(_Body):
    name: str | None = Field(None, max_length=256)
    disabled: bool | None = None


class TenantView(_Body):
    object: Literal["brutor.tenant"] = "brutor.tenant"
    id: str
    name: str | None
    disabled: bool
    source: Source


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("needs a time zone, e.g. 2027-01-31T00:00:00Z")
    return value


class KeyCreate(_Body):
    # Generated (``key-…``) when not given.
    id: str | None = Field(None, min_length=1, max_length=128, pattern=_ID)
    tenant: str = Field(min_length=1, max_length=128)
    tenants: tuple[str, ...] = ()
    owner: str | None = Field(None, max_length=256)
    models: tuple[str, ...] = ("*",)
    deny: tuple[str, ...] = ()
    limits: LimitValues | None = None
    expires_at: datetime | None = None

    _tz = field_validator("expires_at")(_aware)


class KeyPatch(_Body):
    """Fields to change; absent fields keep their value. The secret itself never changes (make a new key)."""

    tenant: str | None = Field(None, min_length=1, max_length=128)
    tenants: tuple[str, ...] | None = None
    owner: str | None = Field(None, max_length=256)
    models: tuple[str, ...] | None = None
    deny: tuple[str, ...] | None = None
    limits: LimitValues | None = None
    expires_at: datetime | None = None
    revoked: bool | None = None

    _tz = field_validator("expires_at")(_aware)


class KeyView(_Body):
    object: Literal["brutor.key"] = "brutor.key"
    id: str
    tenant: str
    tenants: tuple[str, ...]
    owner: str | None
    models: tuple[str, ...]
    deny: tuple[str, ...]
    limits: LimitValues | None
    expires_at: datetime | None
    revoked: bool
    source: Source
    # First characters of the secret, to recognise it; null for keys from the config file.
    prefix: str | None = None
    created_at: datetime | None = None


class KeyCreated(KeyView):
    # The secret, shown this once: only its keyed hash is stored.
    key: str


class EntitlementView(_Body):
    object: Literal["brutor.entitlement"] = "brutor.entitlement"
    kind: Literal["tenants", "groups"]
    name: str
    allow: tuple[str, ...] | None
    deny: tuple[str, ...]
    source: Source


class LimitsView(_Body):
    object: Literal["brutor.limits"] = "brutor.limits"
    kind: Literal["tenants", "models", "users"]
    subject: str
    limits: LimitValues
    source: Source


class ModelPut(_Body):
    provider: str = Field(min_length=1)
    upstream_model: str | None = None
    type: Literal["chat", "embedding"] = "chat"
    price: Price | None = None


class ModelView(_Body):
    object: Literal["brutor.model"] = "brutor.model"
    name: str
    provider: str
    upstream_model: str | None
    type: Literal["chat", "embedding"]
    price: Price | None
    source: Source


class Deleted(_Body):
    object: str
    id: str
    deleted: bool = True


# Bodies that are plain config sections.
EntitlementPut = Entitlement
LimitsPut = LimitValues
