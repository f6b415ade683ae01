"""Starting granian with the settings measured best on this hardware (../shared/design/PERFORMANCE.md)."""

from __future__ import annotations

from granian import Granian
from granian.constants import Interfaces, Loops, TaskImpl


def run(host: str, port: int, workers: int) -> None:
    server = Granian(
        "brutor.server.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.RSGI,
        workers=workers,
        # One runtime thread per worker and workers = cores; rloop and the Rust task impl raised p99 here.
        runtime_threads=1,
        loop=Loops.uvloop,
        task_impl=TaskImpl.asyncio,
        websockets=False,
        log_access=False,
        # Bound in-flight requests per worker so overload queues in the kernel, not in memory.
        backpressure=1024,
    )
    server.serve()
