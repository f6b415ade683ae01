"""A lean asyncio Redis client for the limiter: one connection per process, automatic pipelining.

Why not redis-py: its asyncio client costs ~60 µs of CPU per round trip (connection pool, retry and
parser layers, a StreamReader), and every limited request makes two. Here a command is a future in a
FIFO plus a slice of one buffered write, and replies are parsed straight out of ``data_received``.

- Pipelining: commands issued during one event-loop iteration are joined and written once, by a single
  ``call_soon`` per batch; under concurrency many requests share one write and one read.
- One connection, opened lazily on the running loop by the first command (granian forks its workers
  after the gateway is built, so nothing may connect at construction). Callers arriving while it
  connects wait for that same attempt.
- Deadlines without a timer per command: each pending command carries its deadline and one timer is
  armed at the oldest one's. Replies come in order, so an overdue oldest command means a stalled
  connection: it is aborted and every pending command fails. Otherwise the timer moves on to the new
  oldest, so a busy connection arms about one timer per ``timeout``, not one per command.
- Any connection error fails every pending command; the next command reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

from brutor.limits.resp import (
    INCOMPLETE,
    Arg,
    ConnectionLost,
    ProtocolError,
    RedisError,
    RedisTimeout,
    ReplyError,
    Target,
    encode,
    parse,
    parse_url,
)

__all__ = ["RedisClient"]

_PING = encode(["PING"])
# uvloop's clock and timers have millisecond resolution (asyncio's fire up to its clock resolution
# early): a deadline this close counts as reached, or the timer would re-arm in a busy loop.
_SLACK = 0.001


class _Connection(asyncio.Protocol):
    """One socket: the write batch, the FIFO of pending replies and the incremental reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop, target: Target) -> None:
        self.loop = loop
        self.target = target
        self.transport: asyncio.Transport | None = None
        self.pending: deque[tuple[asyncio.Future[Any], float]] = deque()  # (future, deadline)
        self.batch: list[bytes] = []
        self.rest = b""  # the start of a reply whose end has not arrived yet
        self.failed: RedisError | None = None  # set once the connection is unusable, never reset
        self.writes = 0  # transport.write calls, for tests and metrics
        self.lost: asyncio.Future[None] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None

    def send(self, payload: bytes, deadline: float) -> asyncio.Future[Any]:
        fut = self.loop.create_future()
        if not self.batch:
            self.loop.call_soon(self._flush)
        self.batch.append(payload)
        self.pending.append((fut, deadline))
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._overdue)
        return fut

    def _flush(self) -> None:
        batch, self.batch = self.batch, []
        if self.failed is None and self.transport is not None:
            self.writes += 1
            self.transport.write(batch[0] if len(batch) == 1 else b"".join(batch))

    def _overdue(self) -> None:
        self._timer = None
        if self.failed is not None or not self.pending:
            return
        deadline = self.pending[0][1]
        if deadline - self.loop.time() < _SLACK:
            self.fail(RedisTimeout(f"timed out waiting for a reply from {self.target}"))
        else:
            self._timer = self.loop.call_at(deadline, self._overdue)

    def fail(self, exc: RedisError) -> None:
        """Make the connection unusable: every pending command fails with (a copy of) ``exc``."""
        first = self.failed is None
        if first:
            self.failed = exc
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending = self.pending
        while pending:
            fut, _ = pending.popleft()
            if not fut.done():
                # A fresh instance each: one instance raised in many tasks would collect all their
                # tracebacks.
                fut.set_exception(type(exc)(*exc.args))
        if first and self.transport is not None:
            self.transport.abort()  # unread replies and unsent commands are worthless now

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f": {exc}" if exc is not None else ""
        self.fail(ConnectionLost(f"connection to {self.target} closed{reason}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self.rest + data if self.rest else data
        pending = self.pending
        pos = 0
        size = len(buf)
        try:
            while pos < size:
                reply, end = parse(buf, pos)
                if end == INCOMPLETE:
                    break
                pos = end
                if not pending:
                    raise ProtocolError("a reply nobody asked for")
                fut, _ = pending.popleft()
                if fut.done():
                    continue  # its caller gave up (cancelled): the reply is only consumed
                if isinstance(reply, ReplyError):
                    fut.set_exception(reply)
                else:
                    fut.set_result(reply)
        except (ProtocolError, ValueError) as exc:
            self.fail(ProtocolError(str(exc)))
            return
        self.rest = buf[pos:] if pos < size else b""

    def eof_received(self) -> bool:
        return False  # close; connection_lost fails what is pending

    # No pause_writing/resume_writing: what is buffered is bounded by the requests in flight, a few
    # hundred bytes each, and a connection that stops draining is failed by its deadlines.


class RedisClient:
    """``await client.execute("GET", "k")``; ``evalsha``, ``eval`` and ``ping`` are shorthands, ``send``
    takes a command already encoded with ``resp.encode``.

    ``timeout`` (seconds) bounds each command from the call to the reply, connecting included. Errors
    are ``resp.RedisError``: ``ReplyError`` (``NoScriptError``) for error replies, ``ConnectionLost``,
    ``RedisTimeout``, ``ProtocolError``. A client belongs to the event loop it connects on; used from a
    new loop after the old one closed (a test's next ``asyncio.run``), it connects again.
    """

    def __init__(self, url: str, *, timeout: float = 0.075) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        self.target = parse_url(url)
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._connecting: asyncio.Task[_Connection] | None = None

    @property
    def writes(self) -> int:
        """Writes on the current connection (each carries a batch of commands)."""
        return self._conn.writes if self._conn is not None else 0

    def send(self, payload: bytes) -> Awaitable[Any]:
        """The reply to an encoded command. Not a coroutine: on a live connection this returns the
        reply's future itself, one frame and one task step cheaper per call."""
        conn = self._conn
        loop = asyncio.get_running_loop()
        if conn is not None and conn.failed is None and conn.loop is loop:
            return conn.send(payload, loop.time() + self.timeout)
        return self._send_connecting(payload, loop.time() + self.timeout)

    def send_now(self, payload: bytes) -> asyncio.Future[Any] | None:
        """``send`` only if connected (the reply's future), else None: for callers that cannot await."""
        conn = self._conn
        loop = asyncio.get_running_loop()
        if conn is not None and conn.failed is None and conn.loop is loop:
            return conn.send(payload, loop.time() + self.timeout)
        return None

    def execute(self, *args: Arg) -> Awaitable[Any]:
        return self.send(encode(args))

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Arg) -> Awaitable[Any]:
        return self.send(encode(("EVALSHA", sha, numkeys, *keys_and_args)))

    def eval(self, source: str, numkeys: int, *keys_and_args: Arg) -> Awaitable[Any]:
        return self.send(encode(("EVAL", source, numkeys, *keys_and_args)))

    def ping(self) -> Awaitable[Any]:
        return self.send(_PING)

    async def _send_connecting(self, payload: bytes, deadline: float) -> Any:
        try:
            async with asyncio.timeout_at(deadline):
                conn = await self._connected()
        except TimeoutError:
            raise RedisTimeout(f"timed out connecting to {self.target}") from None
        return await conn.send(payload, deadline)

    async def _connected(self) -> _Connection:
        loop = asyncio.get_running_loop()
        old = self._conn
        if old is not None and (old.failed is not None or old.loop is not loop):
            if old.loop is not loop and not old.loop.is_closed():
                raise RuntimeError("a RedisClient cannot be used from two running event loops")
            self._conn = None  # failed ones are aborted already; connection_lost follows on its own
        task = self._connecting
        if task is None or task.get_loop() is not loop:
            task = self._connecting = loop.create_task(self._open(loop))
            # Retrieved here so an attempt whose waiters all gave up is not logged as never retrieved.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
        # Shielded: one caller's deadline must not cancel the attempt others are waiting for; the
        # attempt has its own bound.
        return await asyncio.shield(task)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        t = self.target
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self.timeout):
                factory: Callable[[], _Connection] = lambda: _Connection(loop, t)  # noqa: E731
                if t.path is not None:
                    _, conn = await loop.create_unix_connection(factory, t.path)
                else:
                    tls = ssl.create_default_context() if t.tls else None
                    _, conn = await loop.create_connection(
                        factory, t.host, t.port, ssl=tls, server_hostname=t.host if tls else None
                    )
                # AUTH and SELECT go out in one write; both must succeed before any other command.
                deadline = loop.time() + self.timeout
                hello = [conn.send(encode(command), deadline) for command in t.hello()]
                for reply in await asyncio.gather(*hello, return_exceptions=True):
                    if isinstance(reply, BaseException):
                        raise reply
        except TimeoutError:
            _abandon(conn)
            raise RedisTimeout(f"timed out connecting to {t}") from None
        except OSError as exc:
            _abandon(conn)
            raise ConnectionLost(f"could not connect to {t}: {exc}") from exc
        except BaseException:
            _abandon(conn)
            raise
        finally:
            self._connecting = None
        self._conn = conn
        return conn

    async def aclose(self) -> None:
        """Close the connection once the commands already sent are answered (each within its deadline:
        settlements queued at shutdown are not lost), and wait until the socket is closed. A later
        command connects again."""
        task, self._connecting = self._connecting, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        conn, self._conn = self._conn, None
        loop = asyncio.get_running_loop()
        if conn is None or conn.loop is not loop:
            return  # nothing open on this loop (one that belonged to a closed loop went with it)
        if conn.failed is None and conn.pending:
            # Replies come in order: this one comes after every pending one, or fails with them.
            with contextlib.suppress(RedisError):
                await conn.send(_PING, loop.time() + self.timeout)
        conn.fail(ConnectionLost("client closed"))
        await conn.lost


def _abandon(conn: _Connection | None) -> None:
    if conn is not None:
        conn.fail(ConnectionLost("connection set-up failed"))
