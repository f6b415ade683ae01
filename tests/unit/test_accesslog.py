from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from brutor.observability import accesslog
from brutor.observability.accesslog import AccessLog


def test_batches_are_line_aligned_and_pipe_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []
    real_write = os.write

    def recording_write(fd: int, data: bytes | memoryview) -> int:
        sizes.append(len(data))
        assert bytes(data).endswith(b"\n")
        return real_write(fd, data)

    monkeypatch.setattr(accesslog.os, "write", recording_write)
    path = tmp_path / "a.log"
    log = AccessLog(str(path))
    for i in range(500):
        log.write({"i": i, "pad": "x" * (i % 300)})
    log.close()
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["i"] for line in lines] == list(range(500))
    assert len(sizes) > 1
    assert max(sizes) <= accesslog._ATOMIC


def test_off_writes_nothing_and_a_broken_sink_is_survived(tmp_path: Path) -> None:
    assert AccessLog("off").enabled is False
    read_end, write_end = os.pipe()
    log = AccessLog("stdout")
    log._fd = write_end
    os.close(read_end)
    os.close(write_end)
    log.write({"a": 1})
    log.flush()  # EBADF must not raise into a request
