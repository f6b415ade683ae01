"""Metrics across real OS processes sharing one directory (as granian's workers do)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from obs_support import samples, total, value, varied

from brutor.observability.metrics import Metrics

WORKER = Path(__file__).with_name("metrics_worker.py")
N = 600


def run_worker(directory: Path, worker_id: str, mode: str, n: int) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(WORKER), str(directory), worker_id, mode, str(n)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_two_processes_sum_exactly_in_a_third_reader(tmp_path: Path) -> None:
    run_worker(tmp_path, "w0", "observe", N)
    run_worker(tmp_path, "w1", "observe", N)
    merged = samples(Metrics(tmp_path, "reader").render())
    # The same 2N records observed by one in-process instance give the exact same exposition.
    reference = Metrics(tmp_path / "ref", "ref")
    for i in range(2 * N):
        reference.observe(varied(i))
    reference.inc("brutor_audit_spool_full_total", (), 2)
    expected = samples(reference.render())
    assert merged.keys() == expected.keys()
    for key, v in expected.items():
        # Counts are exact; float sums (seconds, dollars) differ only by summation order.
        assert merged[key] == (
            v if key[0].endswith(("_bucket", "_count")) else pytest.approx(v, rel=1e-12)
        ), key
    assert total(merged, "brutor_requests_total") == 2 * N
    assert value(merged, "brutor_stage_duration_seconds_count", stage="identify") == 2 * N
    assert total(merged, "brutor_rate_limited_total") == 2 * N // 6
    assert total(merged, "brutor_upstream_errors_total") == 2 * N // 6


def test_dead_workers_keep_their_counters_but_not_their_gauges(tmp_path: Path) -> None:
    run_worker(tmp_path, "w0", "observe", N)  # exited without a clean close, like a crash
    live = subprocess.Popen(
        [sys.executable, str(WORKER), str(tmp_path), "w1", "hold", str(N)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "ready"
        p = samples(Metrics(tmp_path, "reader").render())
        assert total(p, "brutor_requests_total") == 2 * N
        assert value(p, "brutor_audit_spool_full_total") == 2
        assert value(p, "brutor_audit_spool_bytes") == 100  # w1 only: w0's spool died with it
    finally:
        live.communicate("", timeout=30)
    assert live.returncode == 0
    p = samples(Metrics(tmp_path, "reader").render())
    assert total(p, "brutor_requests_total") == 2 * N
    assert value(p, "brutor_audit_spool_bytes") is None


def test_a_restarted_worker_adopts_its_predecessors_totals(tmp_path: Path) -> None:
    run_worker(tmp_path, "w0", "observe", N)
    again = Metrics(tmp_path, "w0")  # same id, new process (this one)
    again.observe(varied(0))
    p = samples(again.render())
    assert total(p, "brutor_requests_total") == N + 1
    assert value(p, "brutor_audit_spool_bytes") is None
    again.flush()
    p = samples(Metrics(tmp_path, "reader").render())
    assert total(p, "brutor_requests_total") == N + 1
    assert value(p, "brutor_audit_spool_full_total") == 1


def test_a_live_owner_of_the_same_id_is_not_overwritten(tmp_path: Path) -> None:
    live = subprocess.Popen(
        [sys.executable, str(WORKER), str(tmp_path), "w0", "hold", "10"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "ready"
        twin = Metrics(tmp_path, "w0")
        twin.observe(varied(0))
        twin.flush()
        assert total(samples(Metrics(tmp_path, "reader").render()), "brutor_requests_total") == 11
    finally:
        live.communicate("", timeout=30)


def test_a_reader_never_sees_a_torn_file(tmp_path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, str(WORKER), str(tmp_path), "w0", "loop", "1500"],
        stdout=subprocess.PIPE,
        text=True,
    )
    reader = Metrics(tmp_path, "reader")
    seen: list[float] = []
    try:
        while writer.poll() is None:
            path = tmp_path / "worker-w0.json"
            if not path.exists():
                continue
            # A skipped (unparsable) file would make the series vanish or go backwards.
            current = value(samples(reader.render()), "brutor_audit_rows_written_total", sink="sqlite")
            assert current is not None
            assert not seen or current >= seen[-1]
            seen.append(current)
    finally:
        out, _ = writer.communicate(timeout=30)
    assert writer.returncode == 0
    assert len(seen) > 50 and len(set(seen)) > 10
    final = value(samples(reader.render()), "brutor_audit_rows_written_total", sink="sqlite")
    assert final == int(out)
