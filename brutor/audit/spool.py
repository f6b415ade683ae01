"""A local append-only spool: audit rows survive a database outage and a killed gateway.

Each worker owns one slot directory (``slot-N``, claimed with an exclusive ``flock`` that the kernel
drops when the process dies, however it dies). A row is one frame — 4-byte length, 4-byte CRC-32, the
JSON record — appended with a single ``write`` on the request's path, so once ``append`` returns the row
survives the process being killed; ``fdatasync`` runs in batches off the event loop (every
``fsync_interval``) for durability against a machine crash. Segments roll over at ``segment_bytes``; the
audit writer reads frames from a checkpoint, and segments it has fully written to the sink are deleted.
``max_bytes`` bounds what may wait for the sink: beyond it ``append`` refuses (the caller's policy
decides whether requests are then refused or their rows dropped — either way it is counted).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("brutor.audit")

_HEADER = struct.Struct("<II")
FRAME_OVERHEAD = _HEADER.size
_MAX_FRAME = 16 * 1024 * 1024
_SLOTS = 256


@dataclass(frozen=True, slots=True, order=True)
class Position:
    segment: int
    offset: int


def _segments(directory: Path) -> list[int]:
    return sorted(int(p.stem) for p in directory.glob("*.seg") if p.stem.isdigit())


def _seg_path(directory: Path, n: int) -> Path:
    return directory / f"{n:012d}.seg"


def frames(data: bytes) -> tuple[list[bytes], int]:
    """Complete, valid frames at the start of ``data`` and how many bytes they span."""
    out, pos, end = [], 0, len(data)
    while end - pos >= _HEADER.size:
        length, crc = _HEADER.unpack_from(data, pos)
        start = pos + _HEADER.size
        if length > _MAX_FRAME or end - start < length:
            break
        payload = data[start : start + length]
        if zlib.crc32(payload) != crc:
            break
        out.append(payload)
        pos = start + length
    return out, pos


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class SpoolSlot:
    """One slot directory: its segments and checkpoint. ``claim`` locks it for this process."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._lock_fd: int | None = None

    def claim(self) -> bool:
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing drops the flock
            self._lock_fd = None

    def checkpoint(self) -> Position:
        try:
            segment, offset = (self.dir / "checkpoint").read_text().split()
            return Position(int(segment), int(offset))
        except (OSError, ValueError):
            segs = _segments(self.dir)
            return Position(segs[0] if segs else 0, 0)

    def save_checkpoint(self, pos: Position) -> None:
        # No fsync: losing a checkpoint only replays rows the sink already has (inserts are idempotent).
        tmp = self.dir / "checkpoint.tmp"
        tmp.write_text(f"{pos.segment} {pos.offset}\n")
        os.replace(tmp, self.dir / "checkpoint")
        for n in _segments(self.dir):
            if n < pos.segment:
                with contextlib.suppress(FileNotFoundError):
                    _seg_path(self.dir, n).unlink()

    def read(
        self, start: Position, max_frames: int, max_bytes: int = 4 * 1024 * 1024
    ) -> tuple[list[bytes], Position]:
        """Up to ``max_frames`` frames from ``start``, and the position after them."""
        out: list[bytes] = []
        pos = start
        for n in _segments(self.dir):
            if n < pos.segment:
                continue
            if n > pos.segment:
                pos = Position(n, 0)
            try:
                with open(_seg_path(self.dir, n), "rb") as f:
                    f.seek(pos.offset)
                    data = f.read(max_bytes)
            except FileNotFoundError:
                continue
            found, used = frames(data)
            take = found[: max_frames - len(out)]
            out.extend(take)
            if len(take) < len(found):
                used = sum(len(p) + _HEADER.size for p in take)
            pos = Position(n, pos.offset + used)
            # Stop at a frame still being written (or a full read buffer); else go on to the next segment.
            if len(out) >= max_frames or used < len(data) or len(data) == max_bytes:
                break
        return out, pos

    def pending_bytes(self, checkpoint: Position) -> int:
        total = 0
        for n in _segments(self.dir):
            if n < checkpoint.segment:
                continue
            with contextlib.suppress(FileNotFoundError):
                total += _seg_path(self.dir, n).stat().st_size - (
                    checkpoint.offset if n == checkpoint.segment else 0
                )
        return max(total, 0)

    def delete_all(self) -> None:
        for n in _segments(self.dir):
            with contextlib.suppress(FileNotFoundError):
                _seg_path(self.dir, n).unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "checkpoint").unlink()


class Spool:
    """This worker's slot, open for appending."""

    def __init__(self, root: Path, *, max_bytes: int, segment_bytes: int = 16 * 1024 * 1024) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.slot: SpoolSlot | None = None
        self._fd = -1
        self._segment = 0
        self._size = 0
        # Bytes appended but not yet confirmed written to the sink (kept in step by the writer).
        self.pending = 0
        self.dirty = False
        # Segments rolled over but not yet synced and closed: done by the next ``sync`` (off the event
        # loop), so a rollover never blocks the loop and never closes a descriptor a sync is using.
        self._closing: list[int] = []

    def open(self) -> None:
        for i in range(_SLOTS):
            slot = SpoolSlot(self.root / f"slot-{i}")
            if slot.claim():
                self.slot = slot
                break
        else:
            raise RuntimeError(f"no free spool slot under {self.root}")
        segs = _segments(slot.dir)
        if segs:
            self._segment = segs[-1]
            self._truncate_torn_tail(_seg_path(slot.dir, self._segment))
        else:
            self._segment = slot.checkpoint().segment
        self._open_segment()
        self.pending = slot.pending_bytes(slot.checkpoint())

    def _truncate_torn_tail(self, path: Path) -> None:
        data = path.read_bytes()
        _, used = frames(data)
        if used < len(data):
            log.warning(
                "audit spool %s: dropping a torn tail of %d bytes left by a crash", path, len(data) - used
            )
            os.truncate(path, used)

    def _open_segment(self) -> None:
        assert self.slot is not None
        path = _seg_path(self.slot.dir, self._segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size

    @property
    def full(self) -> bool:
        return self.pending >= self.max_bytes

    @property
    def end(self) -> Position:
        """Where the next row will start, as a reader's checkpoint would name it."""
        return Position(self._segment, self._size)

    def append(self, payload: bytes) -> Position | None:
        """Write one row; the position just after it, or None (nothing written) when the spool is full."""
        data = frame(payload)
        if self.pending + len(data) > self.max_bytes:
            return None
        os.write(self._fd, data)
        self._size += len(data)
        end = Position(self._segment, self._size)
        self.pending += len(data)
        self.dirty = True
        if self._size >= self.segment_bytes:
            self._closing.append(self._fd)
            self.dirty = True
            self._segment += 1
            self._open_segment()
        return end

    def sync_job(self) -> Callable[[], None]:
        """Take what needs syncing now (on the event loop) and return the blocking part, to run in a
        thread: fdatasync of the open segment and of rolled-over ones, which it then closes."""
        self.dirty = False
        current, closing, self._closing = self._fd, self._closing, []

        def job() -> None:
            for fd in closing:
                with contextlib.suppress(OSError):
                    os.fdatasync(fd)
                os.close(fd)
            if current >= 0:
                with contextlib.suppress(OSError):  # closed by close() meanwhile: nothing left to sync
                    os.fdatasync(current)

        return job

    def sync(self) -> None:
        """Synchronous ``sync_job`` (tests and shutdown)."""
        self.sync_job()()

    def close(self) -> None:
        for fd in self._closing:
            with contextlib.suppress(OSError):
                os.fdatasync(fd)
                os.close(fd)
        self._closing = []
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.fdatasync(self._fd)
            os.close(self._fd)
            self._fd = -1
        if self.slot is not None:
            self.slot.release()
