"""The audit trail a worker writes to: spool + writer + sink, built from the config at worker start."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from brutor.audit.record import AuditRecord
from brutor.audit.sinks import PostgresSink, Sink, SqliteSink
from brutor.audit.spool import FRAME_OVERHEAD, Spool
from brutor.audit.writer import AuditWriter, Recent
from brutor.config import GatewayConfig

if TYPE_CHECKING:
    from brutor.observability.metrics import Metrics

log = logging.getLogger("brutor.audit")

# Rows kept in memory for the writer; beyond this (sink down for long) it reads them back from the spool.
_RECENT_MAX = 100_000


def build_sink(config: GatewayConfig, data_dir: Path) -> Sink | None:
    cfg = config.audit
    if cfg.sink == "off":
        return None
    if cfg.sink == "sqlite":
        return SqliteSink(Path(cfg.sqlite_path).expanduser() if cfg.sqlite_path else data_dir / "audit.db")
    url = cfg.postgres_url or config.store.postgres_url
    assert url is not None  # config validation
    return PostgresSink(url.get_secret_value(), cfg.schema_name or config.store.schema_name)


class AuditTrail:
    """What the return path calls: ``append`` one record per request, before the final byte."""

    def __init__(
        self,
        config: GatewayConfig,
        data_dir: Path,
        sink: Sink,
        metrics: Metrics | None = None,
        *,
        recent_max: int = _RECENT_MAX,
    ) -> None:
        cfg = config.audit
        self.sink = sink
        self._metrics = metrics
        self._reject_when_full = cfg.on_spool_full == "reject"
        self._spool = Spool(data_dir / "spool", max_bytes=cfg.spool_max_mb * 1024 * 1024)
        self._spool.open()
        # Rows as objects, beside their spooled copies: the writer sends these (no read-back, no parse)
        # while they are in step with the spool, and falls back to reading the spool otherwise.
        self._recent: deque[Recent] = deque()
        self._last_end = self._spool.end
        self._recent_max = recent_max
        self.writer = AuditWriter(
            self._spool,
            sink,
            recent=self._recent,
            batch_size=cfg.batch_size,
            interval=cfg.flush_ms / 1000,
            fsync_interval=cfg.fsync_ms / 1000,
            report=self._report,
        )
        self._full_logged = False

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.writer.start(loop)

    async def aclose(self) -> None:
        await self.writer.aclose()
        self._spool.close()
        await self.sink.aclose()

    def _report(self, event: str, n: int) -> None:
        metrics = self._metrics
        if metrics is None:
            return
        if event == "written":
            metrics.inc("brutor_audit_rows_written_total", (self.sink.name,), n)
        else:
            metrics.inc("brutor_audit_write_errors_total", (self.sink.name,), n)
        metrics.set_gauge("brutor_audit_spool_bytes", (), self._spool.pending)

    def admits(self) -> bool:
        """False when the spool is full and the policy is to refuse requests rather than lose rows."""
        return not (self._reject_when_full and self._spool.full)

    def append(self, record: AuditRecord) -> None:
        payload = record.to_json()
        end = self._spool.append(payload)
        if end is not None:
            if len(self._recent) < self._recent_max:
                self._recent.append(
                    Recent(record, payload, self._last_end, end, len(payload) + FRAME_OVERHEAD)
                )
            self._last_end = end
            self._full_logged = False
            return
        if self._metrics is not None:
            self._metrics.inc("brutor_audit_spool_full_total")
        if not self._full_logged:
            log.error(
                "audit spool full (%d bytes waiting for the %s sink): %s",
                self._spool.pending,
                self.sink.name,
                "refusing requests" if self._reject_when_full else "rows are being dropped",
            )
            self._full_logged = True
