"""A small stable number for each live worker process (``w0``, ``w1``, …), held with ``flock``.

Metrics files are named by it, so a restarted worker takes over its predecessor's file instead of adding
one file per process that ever ran; the kernel releases the lock however the process ends."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

_MAX = 1024


class WorkerSlot:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for i in range(_MAX):
            fd = os.open(directory / f"slot-{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._fd = fd
            self.index = i
            return
        raise RuntimeError(f"more than {_MAX} workers share {directory}")

    @property
    def name(self) -> str:
        return f"w{self.index}"

    def release(self) -> None:
        os.close(self._fd)
