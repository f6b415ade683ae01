"""Versioned SQL migrations, applied at start-up.

Files ``migrations/NNNN_name.sql`` are applied in order, each in the same transaction as its record in
``schema_migrations``. Replicas starting together serialize on an advisory lock, so each migration runs
once. A migration edited after it was applied, or a database newer than this gateway, stops start-up:
both mean the schema is not the one this code was written for.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from brutor.store.errors import StoreError

if TYPE_CHECKING:
    import asyncpg

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files("brutor.store").joinpath("migrations").iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StoreError("migrations must be numbered 0001, 0002, … without gaps")
    return found


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lock_id(schema: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(f"brutor:{schema}".encode(), digest_size=8).digest(), "big", signed=True
    )


async def migrate(conn: asyncpg.Connection, schema: str) -> list[int]:
    """Bring ``schema`` up to date; returns the versions applied now (empty when already current)."""
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_id(schema))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
        await conn.execute(f"SET LOCAL search_path TO {quote_ident(schema)}")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
            " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {int(r["version"]): str(r["checksum"]) for r in rows}
        known = migrations()
        newest = max(applied, default=0)
        if newest > len(known):
            raise StoreError(
                f"schema '{schema}' is at migration {newest}, newer than this gateway ({len(known)}); "
                "upgrade the gateway"
            )
        for m in known:
            if m.version in applied:
                if applied[m.version] != m.checksum:
                    raise StoreError(f"migration {m.version:04d}_{m.name} was changed after it was applied")
                continue
            await conn.execute(m.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                m.version,
                m.name,
                m.checksum,
            )
            applied_now.append(m.version)
    return applied_now
