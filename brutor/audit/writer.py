"""Moves spooled audit rows to the sink, in order, in batches; replays after an outage or a crash.

One writer per worker, on the worker's event loop. It reads frames from its slot's checkpoint, writes a
batch to the sink, and only then advances the checkpoint, so a failed write is retried (with backoff)
and a crash between write and checkpoint replays rows the sink ignores (idempotent inserts). It also
adopts slots no live process holds (a worker that was killed) and drains them the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from brutor.audit.record import AuditRecord
from brutor.audit.sinks import Sink
from brutor.audit.spool import Position, Spool, SpoolSlot

log = logging.getLogger("brutor.audit")

_MAX_BACKOFF = 10.0


@dataclass(frozen=True, slots=True)
class Recent:
    record: AuditRecord
    payload: bytes
    start: Position
    end: Position
    size: int


_ADOPT_EVERY = 30.0

Gauge = Callable[[str, float], None]


class AuditWriter:
    def __init__(
        self,
        spool: Spool,
        sink: Sink,
        *,
        batch_size: int = 1000,
        interval: float = 0.2,
        fsync_interval: float = 0.02,
        report: Callable[[str, int], None] | None = None,
        recent: deque[Recent] | None = None,
    ) -> None:
        self._spool = spool
        # Rows appended by this process, in spool order, with where their frames start and end.
        self._recent: deque[Recent] = recent if recent is not None else deque()
        self._sink = sink
        self._batch = batch_size
        self._interval = interval
        self._fsync_interval = fsync_interval
        # report(event, n): "written" rows, "error" once per failed attempt (metrics hook).
        self._report = report or (lambda _event, _n: None)
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._failing = False
        self.written = 0

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._tasks = [loop.create_task(self._run()), loop.create_task(self._sync())]

    def poke(self) -> None:
        """Write what is spooled now rather than at the next interval (tests, shutdown)."""
        self._wake.set()

    async def aclose(self, drain_timeout: float = 5.0) -> None:
        """Stop; first try to write what is spooled (whatever is left is replayed at the next start)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(self._drain_own(), drain_timeout)

    async def _sync(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._fsync_interval)
            if self._spool.dirty:
                try:
                    await loop.run_in_executor(None, self._spool.sync_job())
                except Exception:  # never let one failed fsync end fsyncing for the process
                    log.exception("audit spool fsync failed")

    async def _run(self) -> None:
        backoff = 0.0
        adopt_at = 0.0
        while True:
            try:
                if time.monotonic() >= adopt_at:
                    await self._adopt_orphans()
                    adopt_at = time.monotonic() + _ADOPT_EVERY
                wrote = await self._drain_own()
                if self._failing:
                    log.warning("audit sink %s reachable again; spool drained", self._sink.name)
                    self._failing = False
                backoff = 0.0
                if wrote < self._batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._interval)
                    self._wake.clear()
            except Exception as exc:
                self._report("error", 1)
                if not self._failing:
                    log.warning("audit sink %s failing (%s); rows stay in the spool", self._sink.name, exc)
                    self._failing = True
                backoff = min(_MAX_BACKOFF, max(self._interval, backoff * 2))
                await asyncio.sleep(backoff)

    async def _drain_own(self) -> int:
        slot = self._spool.slot
        assert slot is not None
        total = 0
        while True:
            n = await self._drain_recent(slot)
            if n == 0:
                n = await self._drain_batch(slot, own=True)
            total += n
            if n < self._batch:
                return total

    async def _drain_recent(self, slot: SpoolSlot) -> int:
        """Write rows from memory when they start exactly at the checkpoint (the usual case)."""
        recent = self._recent
        if not recent:
            return 0
        if recent[0].start != slot.checkpoint():
            return 0  # rows on disk precede them (a backlog, or rows memory had no room for)
        batch = [recent[i] for i in range(min(self._batch, len(recent)))]
        await self._sink.write([r.payload for r in batch], [r.record for r in batch])
        for _ in batch:
            recent.popleft()
        slot.save_checkpoint(batch[-1].end)
        self._spool.pending = max(0, self._spool.pending - sum(r.size for r in batch))
        self.written += len(batch)
        self._report("written", len(batch))
        return len(batch)

    async def _drain_batch(self, slot: SpoolSlot, *, own: bool) -> int:
        start = slot.checkpoint()
        payloads, end = slot.read(start, self._batch)
        if not payloads:
            return 0
        rows = [p for p in payloads if _readable(p, slot)]
        if rows:
            await self._sink.write(rows)
        slot.save_checkpoint(end)
        if own:
            self._spool.pending = max(0, self._spool.pending - _span(start, end, payloads))
            # Rows read back from the spool are done: drop their in-memory copies.
            while self._recent and self._recent[0].end <= end:
                self._recent.popleft()
        self.written += len(rows)
        self._report("written", len(rows))
        return len(payloads)

    async def _adopt_orphans(self) -> None:
        own = self._spool.slot
        for directory in sorted(self._spool.root.glob("slot-*")):
            if own is not None and directory == own.dir:
                continue
            slot = SpoolSlot(Path(directory))
            if not slot.claim():
                continue  # a live worker holds it
            try:
                adopted = 0
                while (n := await self._drain_batch(slot, own=False)) > 0:
                    adopted += n
                if adopted:
                    log.warning("audit: wrote %d rows left in %s by a stopped worker", adopted, directory)
                slot.delete_all()
            finally:
                slot.release()


def _readable(payload: bytes, slot: SpoolSlot) -> bool:
    # The CRC already vouched for the bytes; this guards against a row from an incompatible version.
    try:
        AuditRecord.from_json(payload)
    except (ValueError, TypeError):
        log.error("audit spool %s: an unreadable row was skipped", slot.dir)
        return False
    return True


def _span(start: Position, end: Position, payloads: list[bytes]) -> int:
    # Bytes consumed: frames are 8 header bytes plus the payload.
    return sum(len(p) + 8 for p in payloads) if end >= start else 0
