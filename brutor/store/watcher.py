"""Each worker follows the config store: LISTEN for changes, poll the version as a safety net.

A notification wakes the watcher at once (typically a few milliseconds after the commit); the poll
(``store.poll_seconds``, 1 s by default) covers a notification lost while the listening connection was
being re-established. Either way the worker reads a full snapshot and applies it. While the database is
unreachable the worker keeps enforcing the last snapshot it read and retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from brutor.store.errors import StoreError
from brutor.store.postgres import PgConfigStore
from brutor.store.snapshot import Snapshot

log = logging.getLogger("brutor.store")

_MAX_BACKOFF = 10.0


class StoreWatcher:
    def __init__(
        self,
        store: PgConfigStore,
        seen: int | None,
        on_snapshot: Callable[[Snapshot], Awaitable[None]],
        poll_seconds: float,
    ) -> None:
        self._store = store
        self._seen = seen
        self._on_snapshot = on_snapshot
        self._poll = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self._run())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_listener()

    async def _drop_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            if conn.is_closed():
                # Dropped by the server: release our side without a (failing) goodbye.
                conn.terminate()
            else:
                await conn.close(timeout=1)

    async def _run(self) -> None:
        backoff = 0.0
        while True:
            try:
                await self._step()
                if backoff:
                    log.warning("config store reachable again; following changes")
                backoff = 0.0
            except (StoreError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not backoff:
                    log.warning("config store unreachable (%s); keeping the last config", type(exc).__name__)
                await self._drop_listener()
                backoff = min(_MAX_BACKOFF, max(self._poll, backoff * 2))
                await asyncio.sleep(backoff)
            except Exception:
                # A snapshot that cannot be applied: keep the running config, try again later.
                log.exception("config store change could not be applied; keeping the running config")
                await self._drop_listener()
                backoff = min(_MAX_BACKOFF, max(self._poll, backoff * 2))
                await asyncio.sleep(backoff)

    async def _step(self) -> None:
        if self._listener is not None and self._listener.is_closed():
            await self._drop_listener()
        if self._listener is None:
            self._listener = await self._store.listen(self._wake.set)
            # A change may have been announced while nobody listened: look now.
            self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll)
        self._wake.clear()
        if await self._store.version() == self._seen:
            return
        snapshot = await self._store.snapshot()
        await self._on_snapshot(snapshot)
        self._seen = snapshot.version
