"""Two OS processes share one Redis and one RPM limit: together they get the limit, within 1 %."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from limits_support import purge, unique_prefix

WORKER = Path(__file__).with_name("rpm_worker.py")
LIMIT = 300


def test_two_processes_share_one_rpm_limit() -> None:
    prefix = unique_prefix()
    start_at = time.time() + 1.5  # both interpreters are up and connected by then
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), prefix, str(start_at), "500", str(LIMIT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        results = [json.loads(p.communicate(timeout=30)[0]) for p in procs]
    finally:
        asyncio.run(purge(prefix))
    assert all(p.returncode == 0 for p in procs)
    allowed = sum(r["allowed"] for r in results)
    span = max(r["last"] for r in results) - min(r["first"] for r in results)
    # The bucket holds LIMIT and refills at LIMIT/60 per second while the attempts run.
    assert all(r["allowed"] > 0 for r in results), results
    assert LIMIT <= allowed <= LIMIT * 1.01, (allowed, span)
    assert allowed <= LIMIT + span * LIMIT / 60 + 1, (allowed, span)
