"""Audit spool and sink throughput (issue 5): rows per second through each step a row takes.

    python bench/audit_spool.py [--rows 100000] [--pg postgresql://postgres@127.0.0.1:5432/test]

Same run, same records: serialize (AuditRecord.to_json), spool append (one write per row, as on the
request path), fdatasync batches, read-back + parse (the replay path), SQLite sink, PostgreSQL sink
(json_to_recordset, one statement per 1,000 rows). Correctness is checked before timing: every row
read back equals the row written, and each sink holds exactly the rows sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from brutor.audit.record import AuditRecord
from brutor.audit.sinks import PostgresSink, SqliteSink, UsageQuery
from brutor.audit.spool import Position, Spool

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests" / "audit"))
from audit_support import record  # noqa: E402 - the tests' record factory, found via the path above


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} rows/s  ({seconds / n * 1e6:6.2f} µs/row)"


async def sinks(records: list[AuditRecord], payloads: list[bytes], tmp: Path, pg: str | None) -> None:
    n = len(records)
    sqlite = SqliteSink(tmp / "audit.db")
    t = time.perf_counter()
    for i in range(0, n, 1000):
        await sqlite.write(payloads[i : i + 1000], records[i : i + 1000])
    print(f"sqlite sink (batches of 1,000)      {rate(n, time.perf_counter() - t)}")
    got = await sqlite.usage(UsageQuery(None, 0, time.time() + 60, "tenant"))
    assert sum(r["requests"] for r in got) == n
    await sqlite.aclose()
    if pg is None:
        return
    import asyncpg

    from brutor.store.postgres import PgConfigStore

    schema = f"brutor_bench_audit_{os.getpid()}"
    store = PgConfigStore(pg, schema)
    await store.migrate()
    await store.aclose()
    sink = PostgresSink(pg, schema)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, n, 1000):
            await sink.write(payloads[i : i + 1000])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"postgres sink (json_to_recordset)   {rate(n, wall)}; gateway CPU {cpu / n * 1e6:.2f} µs/row")
        got = await sink.usage(UsageQuery(None, 0, time.time() + 60, "tenant"))
        assert sum(r["requests"] for r in got) == n
    finally:
        await sink.aclose()
        conn = await asyncpg.connect(pg)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument(
        "--pg", default=os.environ.get("BRUTOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    )
    p.add_argument("--no-pg", action="store_true")
    a = p.parse_args()
    n = a.rows
    tmp = Path(tempfile.mkdtemp(prefix="brutor-spool-bench-"))
    try:
        records = [record(i) for i in range(n)]
        t = time.perf_counter()
        payloads = [r.to_json() for r in records]
        print(f"serialize (to_json)                 {rate(n, time.perf_counter() - t)}")
        spool = Spool(tmp / "spool", max_bytes=1 << 34)
        spool.open()
        t = time.perf_counter()
        for pl in payloads:
            spool.append(pl)
        print(f"spool append (one write per row)    {rate(n, time.perf_counter() - t)}")
        t = time.perf_counter()
        spool.sync()
        print(f"fdatasync of all of it              {time.perf_counter() - t:.3f} s")
        slot = spool.slot
        assert slot is not None
        t = time.perf_counter()
        pos, back = Position(0, 0), []
        while True:
            batch, pos = slot.read(pos, 1000)
            if not batch:
                break
            back += [AuditRecord.from_json(b) for b in batch]
        print(f"read back + parse (replay path)     {rate(n, time.perf_counter() - t)}")
        assert back == records
        spool.close()
        asyncio.run(sinks(records, payloads, tmp, None if a.no_pg else a.pg))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
