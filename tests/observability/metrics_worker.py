"""A worker process for the multi-process metrics tests.

    metrics_worker.py DIR WORKER_ID MODE [N]

observe: observe varied(i) for N records starting at N x the last digit of WORKER_ID,
         set the spool gauge to 100, flush and exit without aclose (as a crash would)
hold:    like observe, then print "ready" and wait until stdin closes (a live worker)
loop:    inc a named counter by one and flush, over and over, for N milliseconds; print the count
"""

from __future__ import annotations

import sys
import time

from obs_support import varied

from brutor.observability.metrics import Metrics


def main(directory: str, worker_id: str, mode: str, n: int) -> None:
    metrics = Metrics(directory, worker_id)
    if mode == "loop":
        deadline = time.monotonic() + n / 1000
        count = 0
        while time.monotonic() < deadline:
            metrics.inc("brutor_audit_rows_written_total", ("sqlite",))
            count += 1
            metrics.flush()
        print(count, flush=True)
        return
    offset = n * int(worker_id[-1])
    for i in range(offset, offset + n):
        metrics.observe(varied(i))
    metrics.set_gauge("brutor_audit_spool_bytes", (), 100.0)
    metrics.inc("brutor_audit_spool_full_total")
    metrics.flush()
    if mode == "hold":
        print("ready", flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)
