"""Helpers for the audit suite: records, a sink that can be made to fail, a TCP proxy that can be cut."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from brutor.audit.record import AuditRecord
from brutor.audit.sinks import UsageQuery


def record(
    n: int, *, tenant: str = "acme", model: str = "m", started: float | None = None, **extra: Any
) -> AuditRecord:
    fields: dict[str, Any] = {
        "request_id": f"req-{n:06d}",
        "client_request_id": None,
        "trace_id": None,
        "started_at": time.time() if started is None else started,
        "duration_ms": 1.5,
        "tenant": tenant,
        "key_id": "k1",
        "subject": None,
        "target": "llm",
        "operation": "chat.completions",
        "resource": model,
        "deployment": model,
        "stream": False,
        "status": 200,
        "error_code": None,
        "cache_status": "off",
        "stage_ms": {"identify": 0.01, "authorize": 0.02},
        "ttft_ms": None,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "cached_tokens": 0,
        "usage_estimated": False,
        "cost_usd": 0.001,
        "guardrails": None,
        "client": "127.0.0.1",
    }
    fields.update(extra)
    return AuditRecord(**fields)


class FlakySink:
    """Stores rows in memory, idempotent on request id; fails while ``down`` is set."""

    name = "flaky"

    def __init__(self) -> None:
        self.rows: dict[str, AuditRecord] = {}
        self.order: list[str] = []
        self.down = False
        self.failures = 0
        self.batches = 0

    async def write(self, payloads: list[bytes], records: list[AuditRecord] | None = None) -> None:
        if records is None:
            records = [AuditRecord.from_json(p) for p in payloads]
        if self.down:
            self.failures += 1
            raise OSError("sink down")
        self.batches += 1
        for r in records:
            if r.request_id not in self.rows:
                self.rows[r.request_id] = r
                self.order.append(r.request_id)

    async def usage(self, query: UsageQuery) -> list[dict[str, Any]]:
        return []

    async def aclose(self) -> None:
        return None


class CuttableProxy:
    """A TCP forwarder to ``target``; ``cut()`` drops every connection and refuses new ones (an
    unreachable database, without touching the real one), ``restore()`` serves again."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut_now = False
        self.port = 0

    async def start(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_now:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    def cut(self) -> None:
        self.cut_now = True
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.cut_now = False

    async def aclose(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
