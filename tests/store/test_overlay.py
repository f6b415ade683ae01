"""Overlaying the store's snapshot on the config file (pure; no database)."""

from __future__ import annotations

from brutor.config import EntitlementsConfig, GatewayConfig, KeyConfig, LimitValues, ModelConfig, TenantConfig
from brutor.store.snapshot import Snapshot, entitlement_of, overlay

BASE = GatewayConfig.model_validate(
    {
        "server": {"key_pepper": "pepper-0123456789abcdef"},
        "tenants": [{"id": "acme", "name": "from file"}, {"id": "beta"}],
        "keys": [{"id": "file-key", "key": "sk-file-key-0123456789", "tenant": "acme"}],
        "entitlements": {"tenants": {"acme": {"allow": ["a/*"]}}, "groups": {"g": {"deny": ["x"]}}},
        "limits": {"tenants": {"acme": {"rpm": 10}, "beta": {"rpm": 20}}},
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [{"name": "m", "provider": "offline"}],
    }
)


def test_no_snapshot_is_the_file() -> None:
    assert overlay(BASE, None) is BASE


def test_database_adds_and_wins_on_a_name() -> None:
    snap = Snapshot(
        version=3,
        tenants=(TenantConfig(id="acme", name="from db", disabled=True), TenantConfig(id="gamma")),
        keys=(KeyConfig(id="db-key", key_hash="blake2b:" + "00" * 32, tenant="gamma"),),
        entitlements=EntitlementsConfig(tenants={"acme": entitlement_of(None, ["b"])}),
        limits={"tenant": {"acme": LimitValues(rpm=1)}, "user": {"u": LimitValues(tpm=5)}},
        models=(
            ModelConfig(name="m", provider="offline", upstream_model="other"),
            ModelConfig(name="n", provider="offline"),
        ),
    )
    cfg = overlay(BASE, snap)
    assert {t.id: (t.name, t.disabled) for t in cfg.tenants} == {
        "beta": (None, False),
        "acme": ("from db", True),
        "gamma": (None, False),
    }
    assert [k.id for k in cfg.keys] == ["file-key", "db-key"]
    assert cfg.entitlements.tenants["acme"].allow is None and cfg.entitlements.tenants["acme"].deny == ("b",)
    assert cfg.entitlements.groups["g"].deny == ("x",)
    assert cfg.limits.tenants == {"acme": LimitValues(rpm=1), "beta": LimitValues(rpm=20)}
    assert cfg.limits.users == {"u": LimitValues(tpm=5)}
    assert {m.name: m.upstream_model for m in cfg.models} == {"m": "other", "n": None}
    assert cfg.server == BASE.server and cfg.providers == BASE.providers


def test_a_stored_model_with_an_unknown_provider_is_skipped() -> None:
    snap = Snapshot(version=2, models=(ModelConfig(name="z", provider="nowhere"),))
    assert [m.name for m in overlay(BASE, snap).models] == ["m"]
