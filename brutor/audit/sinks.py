"""Where audit rows end up: PostgreSQL (production) or SQLite (embedded default), both idempotent on the
request id, so replaying a spool never double-counts. Both answer the same usage queries."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from brutor.audit.record import COLUMNS, AuditRecord

log = logging.getLogger("brutor.audit")

GROUPS = ("tenant", "model", "key", "user", "day")


@dataclass(frozen=True, slots=True)
class UsageQuery:
    tenant: str | None
    since: float  # unix seconds, inclusive
    until: float  # unix seconds, exclusive
    group_by: str  # one of GROUPS


class Sink(Protocol):
    name: str

    async def write(self, payloads: list[bytes], records: list[AuditRecord] | None = None) -> None:
        """Insert rows (idempotent on request_id). ``payloads`` are the spooled JSON records;
        ``records`` the same rows as objects when the caller has them (a sink may use either)."""

    async def usage(self, query: UsageQuery) -> list[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    request_id TEXT PRIMARY KEY, client_request_id TEXT, trace_id TEXT, started_at REAL NOT NULL,
    duration_ms REAL NOT NULL, tenant TEXT, key_id TEXT, subject TEXT, target TEXT, operation TEXT,
    resource TEXT, deployment TEXT, stream INTEGER NOT NULL, status INTEGER NOT NULL, error_code TEXT,
    cache_status TEXT NOT NULL, stage_ms TEXT, ttft_ms REAL, prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, usage_estimated INTEGER NOT NULL,
    cost_usd REAL NOT NULL, guardrails TEXT, client TEXT, saved_tokens INTEGER NOT NULL DEFAULT 0,
    saved_cost_usd REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS audit_log_tenant_time ON audit_log (tenant, started_at);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (started_at);
"""
# Columns added after the first release, for files created before them: (name, declaration).
_SQLITE_ADDED = (
    ("saved_tokens", "INTEGER NOT NULL DEFAULT 0"),
    ("saved_cost_usd", "REAL NOT NULL DEFAULT 0"),
)


def _add_columns(conn: sqlite3.Connection) -> None:
    have = {row[1] for row in conn.execute("PRAGMA table_info(audit_log)")}
    for name, declaration in _SQLITE_ADDED:
        if name not in have:
            conn.execute(f"ALTER TABLE audit_log ADD COLUMN {name} {declaration}")


_SQL_GROUP = {
    "tenant": "tenant",
    "model": "resource",
    "key": "key_id",
    "user": "subject",
}
_AGGREGATES = (
    "count(*), sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END), sum(prompt_tokens), sum(completion_tokens),"
    " sum(cached_tokens), sum(cost_usd), sum(CASE WHEN cache_status = 'hit' THEN 1 ELSE 0 END),"
    " sum(saved_tokens), sum(saved_cost_usd)"
)


def _usage_row(group: Any, agg: tuple[Any, ...]) -> dict[str, Any]:
    requests, errors, prompt, completion, cached, cost, hits, saved, saved_cost = agg
    return {
        "group": group,
        "requests": int(requests),
        "errors": int(errors or 0),
        "prompt_tokens": int(prompt or 0),
        "completion_tokens": int(completion or 0),
        "cached_tokens": int(cached or 0),
        "cost_usd": round(float(cost or 0.0), 8),
        "cache_hits": int(hits or 0),
        "saved_tokens": int(saved or 0),
        "saved_cost_usd": round(float(saved_cost or 0.0), 8),
    }


class SqliteSink:
    """One SQLite file (WAL) shared by the workers; every call runs on this sink's own thread."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brutor-audit-sqlite")
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self._path, timeout=10.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SQLITE_SCHEMA)
            _add_columns(conn)
            self._conn = conn
        return self._conn

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _write(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._connect()
        marks = ", ".join("?" * len(COLUMNS))
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(f"INSERT OR IGNORE INTO audit_log ({', '.join(COLUMNS)}) VALUES ({marks})", rows)  # noqa: S608 - constant columns
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def write(self, payloads: list[bytes], records: list[AuditRecord] | None = None) -> None:
        if records is None:
            records = [AuditRecord.from_json(p) for p in payloads]
        rows = [r.as_row(json_text=True) for r in records]
        try:
            await self._run(self._write, rows)
        except sqlite3.Error as exc:
            raise OSError(f"sqlite audit write failed: {exc}") from None

    def _usage(self, q: UsageQuery) -> list[dict[str, Any]]:
        conn = self._connect()
        group = (
            "strftime('%Y-%m-%d', started_at, 'unixepoch')" if q.group_by == "day" else _SQL_GROUP[q.group_by]
        )
        where = "started_at >= ? AND started_at < ?"
        args: list[Any] = [q.since, q.until]
        if q.tenant is not None:
            where += " AND tenant = ?"
            args.append(q.tenant)
        sql = f"SELECT {group}, {_AGGREGATES} FROM audit_log WHERE {where} GROUP BY 1 ORDER BY 1"  # noqa: S608 - fixed fragments
        return [_usage_row(r[0], r[1:]) for r in conn.execute(sql, args).fetchall()]

    async def usage(self, query: UsageQuery) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._run(self._usage, query)
        return result

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=False)


class PostgresSink:
    """``audit_log`` in the store's schema (migration 0002), written a batch per statement with unnest."""

    name = "postgres"

    def __init__(self, url: str, schema: str) -> None:
        self._url = url
        self._schema = schema
        self._pool: Any = None

    async def _get_pool(self) -> Any:
        import asyncpg

        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                dsn=self._url,
                min_size=1,
                max_size=2,
                timeout=5,
                command_timeout=10,
                server_settings={"search_path": self._schema, "application_name": "brutor-audit"},
            )
        return self._pool

    async def write(self, payloads: list[bytes], records: list[AuditRecord] | None = None) -> None:
        import asyncpg

        # The spooled JSON goes as one parameter and PostgreSQL unpacks it: ~1 µs of gateway CPU per
        # row, against ~7 µs to build per-column arrays in Python (measured; bench/RESULTS.md).
        try:
            pool = await self._get_pool()
            await self._insert(pool, payloads)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError, TimeoutError) as exc:
            # Only the type: asyncpg messages may quote the DSN.
            raise OSError(f"postgres audit write failed: {type(exc).__name__}") from None

    async def _insert(self, pool: Any, payloads: list[bytes]) -> None:
        """Insert; a batch PostgreSQL refuses for its data (not for the connection) is split until the
        offending rows are found and skipped, so one bad row never blocks the rows behind it."""
        import asyncpg

        try:
            await pool.execute(_PG_INSERT, (b"[" + b",".join(payloads) + b"]").decode())
        except (
            asyncpg.DataError,
            asyncpg.UntranslatableCharacterError,
            asyncpg.InvalidTextRepresentationError,
        ) as exc:
            if len(payloads) == 1:
                log.error("audit row refused by PostgreSQL and skipped (%s)", type(exc).__name__)
                return
            half = len(payloads) // 2
            await self._insert(pool, payloads[:half])
            await self._insert(pool, payloads[half:])
        except asyncpg.PostgresError as exc:
            raise OSError(f"postgres audit write failed: {type(exc).__name__}") from None

    async def usage(self, q: UsageQuery) -> list[dict[str, Any]]:
        group = (
            "to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            if q.group_by == "day"
            else _SQL_GROUP[q.group_by]
        )
        sql = (
            f"SELECT {group}, {_AGGREGATES} FROM audit_log WHERE started_at >= to_timestamp($1)"  # noqa: S608 - fixed fragments
            " AND started_at < to_timestamp($2) AND ($3::text IS NULL OR tenant = $3) GROUP BY 1 ORDER BY 1"
        )
        pool = await self._get_pool()
        rows = await pool.fetch(sql, q.since, q.until, q.tenant)
        return [_usage_row(r[0], tuple(r)[1:]) for r in rows]

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()


_PG_TYPES = {
    "request_id": "text",
    "client_request_id": "text",
    "trace_id": "text",
    "started_at": "timestamptz",
    "duration_ms": "float8",
    "tenant": "text",
    "key_id": "text",
    "subject": "text",
    "target": "text",
    "operation": "text",
    "resource": "text",
    "deployment": "text",
    "stream": "bool",
    "status": "int4",
    "error_code": "text",
    "cache_status": "text",
    "stage_ms": "jsonb",
    "ttft_ms": "float8",
    "prompt_tokens": "int4",
    "completion_tokens": "int4",
    "cached_tokens": "int4",
    "usage_estimated": "bool",
    "cost_usd": "float8",
    "guardrails": "jsonb",
    "client": "text",
    "saved_tokens": "int8",
    "saved_cost_usd": "float8",
}
# Spooled before these columns existed, a row has none of them: json_to_recordset gives NULL.
_PG_DEFAULTS = {"saved_tokens": "coalesce(saved_tokens, 0)", "saved_cost_usd": "coalesce(saved_cost_usd, 0)"}
_PG_INSERT = (
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) SELECT "  # noqa: S608 - constant columns
    + ", ".join("to_timestamp(started_at)" if n == "started_at" else _PG_DEFAULTS.get(n, n) for n in COLUMNS)
    + " FROM json_to_recordset($1::json) AS x("
    + ", ".join(f"{n} {'float8' if n == 'started_at' else _PG_TYPES[n]}" for n in COLUMNS)
    + ") ON CONFLICT (request_id) DO NOTHING"
)
