"""The PostgreSQL config store: writes, snapshots, versions and notifications on real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest
from conftest import PG_URL

from brutor.config import KeyConfig, LimitValues, ModelConfig, Price, TenantConfig
from brutor.store.errors import StoreConflict, StoreNotFound
from brutor.store.postgres import PgConfigStore

HASH = "blake2b:" + "ab" * 32


def key(kid: str = "k1", tenant: str = "acme", **extra: object) -> KeyConfig:
    return KeyConfig.model_validate(
        {"id": kid, "key_hash": HASH if kid == "k1" else "blake2b:" + "cd" * 32, "tenant": tenant, **extra}
    )


def test_round_trip_through_a_snapshot(runner: asyncio.Runner, store: PgConfigStore) -> None:
    async def go() -> None:
        await store.create_tenant(TenantConfig(id="acme", name="Acme"))
        expires = datetime(2030, 1, 1, tzinfo=UTC)
        await store.create_key(
            key(
                owner="bob",
                models=("openai/*",),
                deny=("openai/o1",),
                tenants=("beta",),
                expires_at=expires,
                limits={"rpm": 5},
            ),
            prefix="sk-brutor-abcd",
        )
        await store.put_entitlement("group", "eng", ("offline/*",), ("offline/secret",))
        await store.put_entitlement("tenant", "acme", None, ("x",))
        await store.put_limits("model", "offline/echo", LimitValues(tpm=100, cost_per_day_usd=2.5))
        await store.put_model(ModelConfig(name="m/1", provider="offline", price=Price(input=1, output=2)))
        snap = await store.snapshot()
        # Each statement bumps the version (an upsert fires both its INSERT and UPDATE triggers).
        assert snap.version >= 7
        assert snap.tenants == (TenantConfig(id="acme", name="Acme"),)
        (k,) = snap.keys
        assert (k.id, k.tenant, k.owner, k.models, k.deny, k.tenants) == (
            "k1",
            "acme",
            "bob",
            ("openai/*",),
            ("openai/o1",),
            ("beta",),
        )
        assert k.key_hash == HASH and k.key is None and k.expires_at == expires and not k.revoked
        assert k.limits == LimitValues(rpm=5)
        assert snap.key_meta["k1"].prefix == "sk-brutor-abcd"
        assert snap.entitlements.groups["eng"].allow == ("offline/*",)
        assert snap.entitlements.groups["eng"].deny == ("offline/secret",)
        assert snap.entitlements.tenants["acme"].allow is None
        assert snap.limits["model"]["offline/echo"] == LimitValues(tpm=100, cost_per_day_usd=2.5)
        assert snap.models == (ModelConfig(name="m/1", provider="offline", price=Price(input=1, output=2)),)

    runner.run(go())


def test_revoke_update_and_delete(runner: asyncio.Runner, store: PgConfigStore) -> None:
    async def go() -> None:
        await store.create_tenant(TenantConfig(id="acme"))
        await store.create_key(key(), prefix="p")
        await store.update_key(key(revoked=True, owner="eve"))
        snap = await store.snapshot()
        assert snap.keys[0].revoked and snap.keys[0].owner == "eve"
        revoked_at = snap.key_meta["k1"].revoked_at
        assert revoked_at is not None
        # Revoking again keeps the first revocation time.
        await store.update_key(key(revoked=True))
        assert (await store.snapshot()).key_meta["k1"].revoked_at == revoked_at
        await store.delete_key("k1")
        assert (await store.snapshot()).keys == ()
        with pytest.raises(StoreNotFound):
            await store.delete_key("k1")
        with pytest.raises(StoreNotFound):
            await store.update_key(key())

    runner.run(go())


def test_conflicts(runner: asyncio.Runner, store: PgConfigStore) -> None:
    async def go() -> None:
        with pytest.raises(StoreConflict, match="create the tenant first"):
            await store.create_key(key(), prefix="p")
        await store.create_tenant(TenantConfig(id="acme"))
        with pytest.raises(StoreConflict, match="already exists"):
            await store.create_tenant(TenantConfig(id="acme"))
        await store.create_key(key(), prefix="p")
        with pytest.raises(StoreConflict, match="already exists"):
            await store.create_key(key(), prefix="p")
        with pytest.raises(StoreConflict, match="still has API keys"):
            await store.delete_tenant("acme")

    runner.run(go())


def test_every_change_bumps_the_version_and_notifies(
    runner: asyncio.Runner, store: PgConfigStore, schema: str
) -> None:
    async def go() -> None:
        seen: list[int] = []
        listener = await store.listen(lambda: seen.append(1))
        try:
            v0 = await store.version()
            await store.create_tenant(TenantConfig(id="acme"))
            # A change made by hand, outside the gateway, announces itself the same way.
            conn = await asyncpg.connect(PG_URL)
            try:
                await conn.execute(f'UPDATE "{schema}".tenants SET disabled = true')
            finally:
                await conn.close()
            for _ in range(100):
                if len(seen) >= 2:
                    break
                await asyncio.sleep(0.01)
            assert len(seen) == 2
            assert await store.version() == v0 + 2
            assert (await store.snapshot()).tenants[0].disabled
        finally:
            await listener.close()

    runner.run(go())


def test_a_row_made_invalid_by_hand_is_skipped(
    runner: asyncio.Runner, store: PgConfigStore, schema: str
) -> None:
    async def go() -> None:
        await store.create_tenant(TenantConfig(id="acme"))
        await store.create_key(key(), prefix="p")
        await store.create_key(key("k2"), prefix="q")
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(f"UPDATE \"{schema}\".api_keys SET key_hash = 'not-a-hash' WHERE id = 'k2'")
        finally:
            await conn.close()
        snap = await store.snapshot()
        assert [k.id for k in snap.keys] == ["k1"]

    runner.run(go())
