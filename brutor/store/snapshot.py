"""What the database holds, as config objects, and how it overlays the config file.

The effective config a worker enforces is ``overlay(file config, snapshot)``: the database adds to each
section and, for a name both define, the database wins (it is the live admin surface; the file is the
base a deployment ships with). Providers, server and limiter settings come from the file only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from brutor.config import (
    Entitlement,
    EntitlementsConfig,
    GatewayConfig,
    KeyConfig,
    LimitValues,
    ModelConfig,
    TenantConfig,
)

log = logging.getLogger("brutor.store")

LIMIT_KINDS = {"tenant": "tenants", "model": "models", "user": "users"}
ENTITLEMENT_KINDS = {"tenant": "tenants", "group": "groups"}


@dataclass(frozen=True, slots=True)
class KeyMeta:
    """What the admin API shows about a stored key besides its config (never the hash)."""

    prefix: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    tenants: tuple[TenantConfig, ...] = ()
    keys: tuple[KeyConfig, ...] = ()
    entitlements: EntitlementsConfig = field(default_factory=EntitlementsConfig)
    # kind ("tenant" | "model" | "user") -> subject -> values
    limits: dict[str, dict[str, LimitValues]] = field(default_factory=dict)
    models: tuple[ModelConfig, ...] = ()
    key_meta: dict[str, KeyMeta] = field(default_factory=dict)


_Named = TypeVar("_Named", TenantConfig, KeyConfig, ModelConfig)


def _merge_named(base: tuple[_Named, ...], db: tuple[_Named, ...], name: str) -> tuple[_Named, ...]:
    overridden = {getattr(item, name) for item in db}
    return tuple(item for item in base if getattr(item, name) not in overridden) + db


def _merge_entitlements(base: EntitlementsConfig, db: EntitlementsConfig) -> EntitlementsConfig:
    return EntitlementsConfig(tenants={**base.tenants, **db.tenants}, groups={**base.groups, **db.groups})


def overlay(base: GatewayConfig, snap: Snapshot | None) -> GatewayConfig:
    """The config to enforce: the file's, with the database's rows added (database wins on a name)."""
    if snap is None:
        return base
    providers = {p.name for p in base.providers}
    models = []
    for m in snap.models:
        if m.provider in providers:
            models.append(m)
        else:
            log.warning(
                "stored model '%s' names provider '%s', which the config file lacks; skipped",
                m.name,
                m.provider,
            )
    limits = base.limits.model_copy(
        update={
            section: {**getattr(base.limits, section), **snap.limits.get(kind, {})}
            for kind, section in LIMIT_KINDS.items()
        }
    )
    return base.model_copy(
        update={
            "tenants": _merge_named(base.tenants, snap.tenants, "id"),
            "keys": _merge_named(base.keys, snap.keys, "id"),
            "entitlements": _merge_entitlements(base.entitlements, snap.entitlements),
            "limits": limits,
            "models": _merge_named(base.models, tuple(models), "name"),
        }
    )


def entitlement_of(allow: list[str] | None, deny: list[str]) -> Entitlement:
    return Entitlement(allow=tuple(allow) if allow is not None else None, deny=tuple(deny))
