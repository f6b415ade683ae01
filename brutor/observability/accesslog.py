"""Structured access log: one JSON object per request, written in batches off the request path.

Lines are buffered and flushed every 100 ms or at 64 KiB, so a request never waits on a write(2).
Records hold ids, names and numbers only; no credential is ever placed in one.
"""

from __future__ import annotations

import asyncio
import os
import select
from typing import Any

import orjson

_FLUSH_BYTES = 64 * 1024
_FLUSH_SECONDS = 0.1
# Several workers share stdout: a pipe write of at most PIPE_BUF bytes is atomic, so batches are cut at
# line boundaries below it and lines from different workers never interleave mid-line.
_ATOMIC = select.PIPE_BUF


class AccessLog:
    def __init__(self, sink: str) -> None:
        self.enabled = sink != "off"
        self._owned = False
        if sink in ("off", "stdout"):
            self._fd = 1
        elif sink == "stderr":
            self._fd = 2
        else:
            self._fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            self._owned = True
        self._buf: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        self._buf.append(line)
        self._size += len(line)
        if self._size >= _FLUSH_BYTES:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(_FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buf:
            return
        lines, self._buf, self._size = self._buf, [], 0
        batch: list[bytes] = []
        size = 0
        try:
            for line in lines:
                if batch and size + len(line) > _ATOMIC:
                    self._write_all(b"".join(batch))
                    batch, size = [], 0
                batch.append(line)
                size += len(line)
            if batch:
                self._write_all(b"".join(batch))
        except OSError:
            # A closed or full log sink must not take requests down with it.
            pass

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        self.flush()
        if self._owned:
            os.close(self._fd)
            self._owned = False
