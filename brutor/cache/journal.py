"""Invalidations shared by every worker process of one host, for the per-process (embedded) stores.

An admin call reaches one worker; the embedded entry store lives in each worker's memory. The worker that
takes the call appends the invalidation to a journal file in the data directory and then publishes the
journal's new length in a shared 8-byte word (a memory-mapped sidecar file), both under an exclusive
``flock``. Before each lookup every worker compares that word with how far it has read: a memory read,
no system call (a syscall releases the GIL, and on a core shared with the embedding thread getting it
back was measured to cost more than the lookup itself). Only when the word moved does it read the new
lines. So no worker can serve an invalidated entry once the admin call has returned.

An invalidation drops entries stored at or before its time: applying it again (every worker also reads
its own lines back) or late never drops an answer stored after it. A worker starts reading at the end of
the journal, because its store starts empty; the file only grows by admin calls.

Shared stores (Redis entries, a Qdrant server) are invalidated directly and need no journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import struct
from collections.abc import Iterator
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
        word = path.with_name(path.name + ".len")
        self._word_fd = os.open(word, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with _locked(self._fd):
            if os.fstat(self._word_fd).st_size < _WORD.size:
                os.ftruncate(self._word_fd, _WORD.size)
            self._word = mmap.mmap(self._word_fd, _WORD.size)
            # A worker's store starts empty: earlier invalidations do not concern it.
            self._offset = os.fstat(self._fd).st_size
            _WORD.pack_into(self._word, 0, self._offset)

    def publish(self, invalidation: Invalidation) -> None:
        with _locked(self._fd):
            os.write(self._fd, invalidation.to_line())
            _WORD.pack_into(self._word, 0, os.fstat(self._fd).st_size)

    def poll(self) -> list[Invalidation]:
        """Invalidations published since the last poll (by any worker, this one included)."""
        (size,) = _WORD.unpack_from(self._word, 0)
        if size == self._offset:
            return []
        if size < self._offset:  # the journal was emptied by hand: follow it from its new end
            self._offset = size
            return []
        data = os.pread(self._fd, size - self._offset, self._offset)
        end = data.rfind(b"\n") + 1
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
            self._word.close()
            os.close(self._word_fd)
            os.close(self._fd)
            self._fd = -1


_WORD = struct.Struct("<Q")


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
