"""What the admin API reads: the effective config, fresh from the store when there is one.

Reads with the postgres store go to the database (a snapshot overlaid on the config file), so a client
that writes and then reads sees its write whichever worker answers. With the file store they read the
running config.
"""

from __future__ import annotations

from dataclasses import dataclass

from brutor.admin.schemas import EntitlementView, KeyView, LimitsView, ModelView, Source, TenantView
from brutor.assemble import Gateway
from brutor.config import GatewayConfig, KeyConfig
from brutor.store.snapshot import ENTITLEMENT_KINDS, LIMIT_KINDS, Snapshot, overlay

LIMIT_SECTIONS = tuple(LIMIT_KINDS.values())
ENTITLEMENT_SECTIONS = tuple(ENTITLEMENT_KINDS.values())


@dataclass(frozen=True, slots=True)
class View:
    config: GatewayConfig
    snapshot: Snapshot | None

    def source(self, section: str, name: str) -> Source:
        snap = self.snapshot
        if snap is None:
            return "file"
        if section == "tenants":
            found = any(t.id == name for t in snap.tenants)
        elif section == "keys":
            found = name in snap.key_meta
        elif section == "models":
            found = any(m.name == name for m in snap.models)
        elif section in ENTITLEMENT_SECTIONS:
            found = name in getattr(snap.entitlements, section)
        else:
            kind = next(k for k, s in LIMIT_KINDS.items() if s == section)
            found = name in snap.limits.get(kind, {})
        return "database" if found else "file"

    def tenants(self) -> list[TenantView]:
        return [
            TenantView(id=t.id, name=t.name, disabled=t.disabled, source=self.source("tenants", t.id))
            for t in self.config.tenants
        ]

    def key(self, k: KeyConfig) -> KeyView:
        meta = self.snapshot.key_meta.get(k.id) if self.snapshot is not None else None
        return KeyView(
            id=k.id,
            tenant=k.tenant,
            tenants=k.tenants,
            owner=k.owner,
            models=k.models,
            deny=k.deny,
            limits=k.limits,
            expires_at=k.expires_at,
            revoked=k.revoked,
            source="database" if meta is not None else "file",
            prefix=meta.prefix if meta is not None else None,
            created_at=meta.created_at if meta is not None else None,
        )

    def keys(self, tenant: str | None = None) -> list[KeyView]:
        return [self.key(k) for k in self.config.keys if tenant is None or k.tenant == tenant]

    def entitlements(self) -> list[EntitlementView]:
        out = []
        for section in ENTITLEMENT_SECTIONS:
            for name, e in sorted(getattr(self.config.entitlements, section).items()):
                out.append(
                    EntitlementView(
                        kind=section, name=name, allow=e.allow, deny=e.deny, source=self.source(section, name)
                    )
                )
        return out

    def limits(self) -> list[LimitsView]:
        out = []
        for section in LIMIT_SECTIONS:
            for subject, values in sorted(getattr(self.config.limits, section).items()):
                out.append(
                    LimitsView(
                        kind=section, subject=subject, limits=values, source=self.source(section, subject)
                    )
                )
        return out

    def models(self) -> list[ModelView]:
        return [
            ModelView(
                name=m.name,
                provider=m.provider,
                upstream_model=m.upstream_model,
                type=m.type,
                price=m.price,
                source=self.source("models", m.name),
            )
            for m in self.config.models
        ]


async def read_view(gateway: Gateway) -> View:
    store = gateway.store
    if store is None or gateway.base is None:
        return View(gateway.config, None)
    snapshot = await store.snapshot()
    return View(overlay(gateway.base, snapshot), snapshot)
