"""Invalidations shared by every worker process of one host, for the per-process (embedded) stores.

An admin call reaches one worker; the embedded entry store lives in each worker's memory. The worker that
takes the call appends the invalidation to a journal file in the data directory (one ``write`` on an
``O_APPEND`` descriptor, so lines of concurrent writers never interleave), and every worker reads what
was appended since it last looked before each lookup: one ``fstat`` when nothing changed. So no worker
can serve an invalidated entry once the admin call has returned.

An invalidation drops entries stored at or before its time: applying it again (every worker also reads
its own lines back) or late never drops an answer stored after it. A worker starts reading at the end of
the journal, because its store starts empty; the file only grows by admin calls.

Shared stores (Redis entries, a Qdrant server) are invalidated directly and need no journal.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

log = logging.getLogger("brutor.cache")

__all__ = ["Invalidation", "Journal"]


@dataclass(frozen=True, slots=True)
class Invalidation:
    """Drop the entries of ``tenant`` / ``model`` / ``key`` (None: any) stored at or before ``before``
    (wall-clock seconds)."""

    before: float
    tenant: str | None = None
    model: str | None = None
    key: str | None = None

    def to_line(self) -> bytes:
        doc = {"before": self.before, "tenant": self.tenant, "model": self.model, "key": self.key}
        return orjson.dumps(doc) + b"\n"

    @classmethod
    def from_line(cls, line: bytes) -> Invalidation | None:
        try:
            doc = orjson.loads(line)
            fields = (doc.get("tenant"), doc.get("model"), doc.get("key"))
            if not all(f is None or isinstance(f, str) for f in fields) or fields == (None, None, None):
                return None
            return cls(float(doc["before"]), *fields)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            return None


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._offset = os.fstat(self._fd).st_size

    def publish(self, invalidation: Invalidation) -> None:
        os.write(self._fd, invalidation.to_line())

    def poll(self) -> list[Invalidation]:
        """Invalidations appended since the last poll (by any worker, this one included)."""
        size = os.fstat(self._fd).st_size
        if size <= self._offset:
            if size < self._offset:  # truncated by hand: start over from its end
                self._offset = size
            return []
        data = os.pread(self._fd, size - self._offset, self._offset)
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        self._offset += end
        found = []
        for line in data[:end].splitlines():
            item = Invalidation.from_line(line) if line else None
            if item is None and line:
                log.warning("ignoring a malformed line in the cache invalidation journal")
            elif item is not None:
                found.append(item)
        return found

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
