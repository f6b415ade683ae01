"""The audit spool: framing, torn tails, segments, checkpoints, bounds and slot ownership."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from brutor.audit.spool import Position, Spool, SpoolSlot, frame, frames


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(0, 7))
def test_frames_round_trip_and_a_torn_tail_is_not_a_frame(payloads: list[bytes], cut: int) -> None:
    data = b"".join(frame(p) for p in payloads)
    got, used = frames(data)
    assert got == payloads and used == len(data)
    if payloads:
        torn = data[: len(data) - 1 - cut % max(1, len(frame(payloads[-1])) - 1)]
        got, used = frames(torn)
        assert got == payloads[:-1]


def test_a_corrupted_frame_stops_the_read(tmp_path: Path) -> None:
    data = bytearray(frame(b"one") + frame(b"two"))
    data[-1] ^= 0xFF
    assert frames(bytes(data))[0] == [b"one"]


def test_append_read_checkpoint_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=100)
    spool.open()
    payloads = [f"row-{i:03d}".encode() * 3 for i in range(40)]
    for p in payloads:
        assert spool.append(p)
    slot = spool.slot
    assert slot is not None
    assert len(list(slot.dir.glob("*.seg"))) > 5
    got: list[bytes] = []
    pos = slot.checkpoint()
    while True:
        batch, pos = slot.read(pos, 7)
        if not batch:
            break
        got += batch
        slot.save_checkpoint(pos)
    assert got == payloads
    # Consumed segments are deleted; the one being written stays.
    assert len(list(slot.dir.glob("*.seg"))) <= 2
    assert slot.read(slot.checkpoint(), 10)[0] == []
    spool.close()


def test_full_spool_refuses_and_pending_counts_down(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100)
    spool.open()
    assert spool.append(b"x" * 40)
    assert spool.append(b"x" * 40)
    assert not spool.append(b"x" * 40)
    assert spool.full is False and spool.pending == 96
    spool.close()


def test_reopen_after_a_crash_truncates_the_torn_tail(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.open()
    spool.append(b"first")
    spool.append(b"second")
    slot = spool.slot
    assert slot is not None
    seg = next(slot.dir.glob("*.seg"))
    spool.close()
    with open(seg, "ab") as f:
        f.write(frame(b"third")[:-2])  # a write cut short
    again = Spool(tmp_path, max_bytes=1 << 20)
    again.open()
    assert again.slot is not None and again.slot.dir == slot.dir
    again.append(b"fourth")
    assert again.slot.read(Position(0, 0), 10)[0] == [b"first", b"second", b"fourth"]
    again.close()


def test_each_process_gets_its_own_slot(tmp_path: Path) -> None:
    a = Spool(tmp_path, max_bytes=1 << 20)
    b = Spool(tmp_path, max_bytes=1 << 20)
    a.open()
    b.open()
    assert a.slot is not None and b.slot is not None and a.slot.dir != b.slot.dir
    # A held slot cannot be claimed; after close it can.
    assert not SpoolSlot(a.slot.dir).claim()
    a.close()
    free = SpoolSlot(a.slot.dir)
    assert free.claim()
    free.release()
    b.close()


def test_sync_and_files_are_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.open()
    spool.append(b"secret-ish")
    assert spool.dirty
    spool.sync()
    assert not spool.dirty
    assert spool.slot is not None
    seg = next(spool.slot.dir.glob("*.seg"))
    assert os.stat(seg).st_mode & 0o077 == 0
    spool.close()
