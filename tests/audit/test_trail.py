"""The audit trail as the return path uses it: rows from memory when in step with the spool, from the
spool when memory had no room (a long outage), never twice and always in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from audit_support import FlakySink, record

from brutor.audit.trail import AuditTrail
from brutor.config import GatewayConfig

CONFIG = GatewayConfig.model_validate({"audit": {"flush_ms": 10, "fsync_ms": 10}})


async def _until(predicate: object, within: float = 5.0) -> None:
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < within, "condition not met in time"
        await asyncio.sleep(0.01)


def test_memory_overflow_during_an_outage_falls_back_to_the_spool(tmp_path: Path) -> None:
    async def go() -> None:
        sink = FlakySink()
        trail = AuditTrail(CONFIG, tmp_path, sink, recent_max=10)  # type: ignore[arg-type]
        trail.start(asyncio.get_running_loop())
        for i in range(5):
            trail.append(record(i))
        await _until(lambda: len(sink.rows) == 5)
        sink.down = True
        for i in range(5, 40):
            trail.append(record(i))
        await _until(lambda: sink.failures >= 1)
        sink.down = False
        await _until(lambda: len(sink.rows) == 40, within=15)
        for i in range(40, 60):
            trail.append(record(i))
        await _until(lambda: len(sink.rows) == 60)
        assert sink.order == [f"req-{i:06d}" for i in range(60)]
        await trail.aclose()

    asyncio.run(go())


def test_rows_left_by_a_previous_process_go_first(tmp_path: Path) -> None:
    async def go() -> None:
        down = FlakySink()
        down.down = True
        first = AuditTrail(CONFIG, tmp_path, down)  # type: ignore[arg-type]
        for i in range(10):
            first.append(record(i))
        first._spool.close()  # the process dies: nothing was written, the spool keeps the rows
        sink = FlakySink()
        second = AuditTrail(CONFIG, tmp_path, sink)  # type: ignore[arg-type]
        second.start(asyncio.get_running_loop())
        for i in range(10, 15):
            second.append(record(i))
        await _until(lambda: len(sink.rows) == 15)
        assert sink.order == [f"req-{i:06d}" for i in range(15)]
        await second.aclose()

    asyncio.run(go())


def test_record_json_round_trips_in_column_order() -> None:
    import dataclasses

    import orjson

    from brutor.audit.record import COLUMNS, AuditRecord

    assert tuple(f.name for f in dataclasses.fields(AuditRecord)) == COLUMNS
    rec = record(7, guardrails=[{"stage": "request", "action": "redact", "types": {"EMAIL": 1}}])
    assert list(orjson.loads(rec.to_json())) == list(COLUMNS)
    assert AuditRecord.from_json(rec.to_json()) == rec
