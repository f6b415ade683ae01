"""The PostgreSQL config store: reads a snapshot, applies admin changes, announces versions.

One small pool per worker (admin writes and snapshot reads are rare) and one dedicated connection for
LISTEN. Every write is one statement; the tables' triggers bump ``config_version`` and NOTIFY, so a
change made here, by another replica or by hand in psql reaches every worker the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from brutor.config import (
    EntitlementsConfig,
    KeyConfig,
    LimitValues,
    ModelConfig,
    Price,
    TenantConfig,
)
from brutor.store.errors import StoreConflict, StoreError, StoreNotFound
from brutor.store.migrate import migrate
from brutor.store.snapshot import ENTITLEMENT_KINDS, KeyMeta, Snapshot, entitlement_of

log = logging.getLogger("brutor.store")

_TIMEOUT = 5.0
_KEY_COLUMNS = (
    "id, key_hash, prefix, tenant, tenants, owner, models, deny, limits, expires_at, revoked_at,"
    " created_at, updated_at"
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
    )


def _unreachable(exc: BaseException) -> StoreError:
    # Only the exception's type: asyncpg messages can quote the DSN (and so a password).
    return StoreError(f"the config database cannot be used ({type(exc).__name__})")


class PgConfigStore:
    def __init__(self, url: str, schema: str) -> None:
        self._url = url
        self._schema = schema
        self._pool: asyncpg.Pool | None = None
        self.channel = f"brutor_config_{schema}"

    def __repr__(self) -> str:
        return f"PgConfigStore(schema={self._schema!r})"

    def _connect_kwargs(self) -> dict[str, Any]:
        return {
            "dsn": self._url,
            "timeout": _TIMEOUT,
            "command_timeout": _TIMEOUT,
            "server_settings": {"search_path": self._schema, "application_name": "brutor"},
        }

    async def migrate(self) -> list[int]:
        """Apply pending migrations (start-up, in the parent process)."""
        try:
            conn = await asyncpg.connect(
                **{**self._connect_kwargs(), "server_settings": {"application_name": "brutor"}}
            )
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise _unreachable(exc) from None
        try:
            return await migrate(conn, self._schema)
        except asyncpg.PostgresError as exc:
            raise StoreError(
                f"migrating schema '{self._schema}' failed: {exc.__class__.__name__}: {exc}"
            ) from None
        finally:
            await conn.close()

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            try:
                self._pool = await asyncpg.create_pool(
                    min_size=1, max_size=4, init=_init_connection, **self._connect_kwargs()
                )
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                raise _unreachable(exc) from None
        return self._pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self._get_pool()
        try:
            return list(await pool.fetch(query, *args))
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            raise _unreachable(exc) from None

    async def _execute(self, query: str, *args: Any) -> str:
        pool = await self._get_pool()
        try:
            return str(await pool.execute(query, *args))
        except asyncpg.UniqueViolationError:
            raise StoreConflict("already exists") from None
        except asyncpg.ForeignKeyViolationError:
            # The only foreign key: api_keys.tenant (delete_tenant words its own case).
            raise StoreConflict("the key's tenant does not exist; create the tenant first") from None
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            raise _unreachable(exc) from None

    # -- reading ---------------------------------------------------------------------------------------
    async def version(self) -> int:
        rows = await self._fetch("SELECT version FROM config_version")
        return int(rows[0]["version"])

    async def snapshot(self) -> Snapshot:
        pool = await self._get_pool()
        try:
            async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
                version = int(await conn.fetchval("SELECT version FROM config_version"))
                tenants = await conn.fetch("SELECT id, name, disabled FROM tenants ORDER BY id")
                keys = await conn.fetch(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY id")  # noqa: S608 - constant
                ents = await conn.fetch(
                    "SELECT kind, name, allow, deny FROM entitlements ORDER BY kind, name"
                )
                lims = await conn.fetch('SELECT kind, subject, "values" FROM limits ORDER BY kind, subject')
                models = await conn.fetch(
                    "SELECT name, provider, upstream_model, type, price FROM models ORDER BY name"
                )
        except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
            raise _unreachable(exc) from None
        return _snapshot(version, tenants, keys, ents, lims, models)

    async def listen(self, on_notify: Callable[[], None]) -> asyncpg.Connection:
        """A dedicated connection LISTENing on this schema's channel; the caller closes it."""
        try:
            conn: asyncpg.Connection = await asyncpg.connect(**self._connect_kwargs())
            await conn.add_listener(self.channel, lambda *_: on_notify())
        except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
            raise _unreachable(exc) from None
        return conn

    # -- tenants ---------------------------------------------------------------------------------------
    async def create_tenant(self, t: TenantConfig) -> None:
        try:
            await self._execute(
                "INSERT INTO tenants (id, name, disabled) VALUES ($1, $2, $3)", t.id, t.name, t.disabled
            )
        except StoreConflict:
            raise StoreConflict(f"tenant '{t.id}' already exists") from None

    async def update_tenant(self, t: TenantConfig) -> None:
        status = await self._execute(
            "UPDATE tenants SET name = $2, disabled = $3, updated_at = now() WHERE id = $1",
            t.id,
            t.name,
            t.disabled,
        )
        _found(status, f"tenant '{t.id}'")

    async def delete_tenant(self, tenant_id: str) -> None:
        try:
            status = await self._execute("DELETE FROM tenants WHERE id = $1", tenant_id)
        except StoreConflict:
            raise StoreConflict(
                f"tenant '{tenant_id}' still has API keys; delete or move them first"
            ) from None
        _found(status, f"tenant '{tenant_id}'")

    # -- keys ------------------------------------------------------------------------------------------
    async def create_key(self, k: KeyConfig, prefix: str) -> None:
        try:
            await self._insert_key(k, prefix)
        except StoreConflict as exc:
            if str(exc) == "already exists":
                raise StoreConflict(f"key '{k.id}' already exists") from None
            raise

    async def _insert_key(self, k: KeyConfig, prefix: str) -> None:
        await self._execute(
            "INSERT INTO api_keys (id, key_hash, prefix, tenant, tenants, owner, models, deny, limits, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            k.id,
            k.key_hash,
            prefix,
            *_key_fields(k),
        )

    async def update_key(self, k: KeyConfig) -> None:
        """Everything but the secret; ``revoked`` sets (or clears) the revocation time."""
        status = await self._execute(
            "UPDATE api_keys SET tenant = $2, tenants = $3, owner = $4, models = $5, deny = $6, limits = $7,"
            " expires_at = $8, revoked_at = CASE WHEN $9 THEN coalesce(revoked_at, now()) END,"
            " updated_at = now() WHERE id = $1",
            k.id,
            *_key_fields(k),
            k.revoked,
        )
        _found(status, f"key '{k.id}'")

    async def delete_key(self, key_id: str) -> None:
        _found(await self._execute("DELETE FROM api_keys WHERE id = $1", key_id), f"key '{key_id}'")

    # -- entitlements, limits, models ------------------------------------------------------------------
    async def put_entitlement(
        self, kind: str, name: str, allow: tuple[str, ...] | None, deny: tuple[str, ...]
    ) -> None:
        await self._execute(
            "INSERT INTO entitlements (kind, name, allow, deny) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, name)"
            " DO UPDATE SET allow = excluded.allow, deny = excluded.deny, updated_at = now()",
            kind,
            name,
            list(allow) if allow is not None else None,
            list(deny),
        )

    async def delete_entitlement(self, kind: str, name: str) -> None:
        status = await self._execute("DELETE FROM entitlements WHERE kind = $1 AND name = $2", kind, name)
        _found(status, f"{kind} entitlement '{name}'")

    async def put_limits(self, kind: str, subject: str, values: LimitValues) -> None:
        await self._execute(
            'INSERT INTO limits (kind, subject, "values") VALUES ($1, $2, $3) ON CONFLICT (kind, subject)'
            ' DO UPDATE SET "values" = excluded."values", updated_at = now()',
            kind,
            subject,
            values.model_dump(exclude_none=True),
        )

    async def delete_limits(self, kind: str, subject: str) -> None:
        status = await self._execute("DELETE FROM limits WHERE kind = $1 AND subject = $2", kind, subject)
        _found(status, f"{kind} limits for '{subject}'")

    async def put_model(self, m: ModelConfig) -> None:
        await self._execute(
            "INSERT INTO models (name, provider, upstream_model, type, price) VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (name) DO UPDATE SET provider = excluded.provider, upstream_model ="
            " excluded.upstream_model, type = excluded.type, price = excluded.price, updated_at = now()",
            m.name,
            m.provider,
            m.upstream_model,
            m.type,
            m.price.model_dump() if m.price is not None else None,
        )

    async def delete_model(self, name: str) -> None:
        _found(await self._execute("DELETE FROM models WHERE name = $1", name), f"model '{name}'")

    async def truncate_all(self) -> None:
        """Empty every config table (tests and `brutor` maintenance), in one statement."""
        await self._execute("TRUNCATE api_keys, tenants, entitlements, limits, models")


def _key_fields(k: KeyConfig) -> tuple[Any, ...]:
    return (
        k.tenant,
        list(k.tenants),
        k.owner,
        list(k.models),
        list(k.deny),
        k.limits.model_dump(exclude_none=True) if k.limits is not None else None,
        k.expires_at,
    )


def _found(status: str, what: str) -> None:
    # asyncpg returns the command tag, e.g. "UPDATE 0" / "DELETE 1".
    if status.rsplit(" ", 1)[-1] == "0":
        raise StoreNotFound(f"{what} does not exist")


def _snapshot(
    version: int,
    tenants: list[asyncpg.Record],
    keys: list[asyncpg.Record],
    ents: list[asyncpg.Record],
    lims: list[asyncpg.Record],
    models: list[asyncpg.Record],
) -> Snapshot:
    # Rows were validated on the way in; a row edited by hand into something invalid is skipped, logged.
    key_configs, meta = [], {}
    for r in keys:
        try:
            key_configs.append(
                KeyConfig(
                    id=r["id"],
                    key_hash=r["key_hash"],
                    tenant=r["tenant"],
                    tenants=tuple(r["tenants"]),
                    owner=r["owner"],
                    models=tuple(r["models"]),
                    deny=tuple(r["deny"]),
                    limits=LimitValues(**r["limits"]) if r["limits"] is not None else None,
                    expires_at=r["expires_at"],
                    revoked=r["revoked_at"] is not None,
                )
            )
        except ValueError as exc:
            log.warning("stored key '%s' is invalid and was skipped: %s", r["id"], type(exc).__name__)
            continue
        meta[r["id"]] = KeyMeta(r["prefix"], r["created_at"], r["updated_at"], r["revoked_at"])
    entitlements: dict[str, dict[str, Any]] = {section: {} for section in ENTITLEMENT_KINDS.values()}
    for r in ents:
        entitlements[ENTITLEMENT_KINDS[r["kind"]]][r["name"]] = entitlement_of(r["allow"], r["deny"])
    limits: dict[str, dict[str, LimitValues]] = {}
    for r in lims:
        try:
            limits.setdefault(r["kind"], {})[r["subject"]] = LimitValues(**r["values"])
        except ValueError as exc:
            log.warning(
                "stored %s limits for '%s' are invalid and were skipped: %s",
                r["kind"],
                r["subject"],
                type(exc).__name__,
            )
    return Snapshot(
        version=version,
        tenants=tuple(TenantConfig(id=r["id"], name=r["name"], disabled=r["disabled"]) for r in tenants),
        keys=tuple(key_configs),
        entitlements=EntitlementsConfig(**entitlements),
        limits=limits,
        models=tuple(
            ModelConfig(
                name=r["name"],
                provider=r["provider"],
                upstream_model=r["upstream_model"],
                type=r["type"],
                price=Price(**r["price"]) if r["price"] is not None else None,
            )
            for r in models
        ),
        key_meta=meta,
    )
