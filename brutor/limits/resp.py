"""RESP2, the Redis wire protocol: command encoding, an incremental reply parser, the client's errors and
its URL format. No I/O here (``redis_client`` does that), so all of it is testable byte for byte.

Replies map to Python as: simple string -> ``str``, bulk string -> ``bytes``, integer -> ``int``, null
bulk/array -> ``None``, array -> ``list``, error -> a ``ReplyError`` *value* (``NoScriptError`` for
NOSCRIPT), which the connection raises in the caller; an error inside an array stays a value there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

Arg = str | bytes | int

# parse()'s position when the buffer ends before the reply does (more data needed).
INCOMPLETE = -1

_CR = b"\r\n"


class RedisError(Exception):
    """Anything the limiter's Redis client raises: the backend maps it to ``BackendUnavailable``."""


class ReplyError(RedisError):
    """An error reply from the server (``-ERR ...``); ``str(exc)`` is the server's message."""


class NoScriptError(ReplyError):
    """EVALSHA of a script the server does not hold (restarted, flushed): send EVAL instead."""


class ProtocolError(RedisError):
    """Bytes that are not RESP2, or a reply nobody asked for: the connection cannot be trusted any more."""


class ConnectionLost(RedisError, ConnectionError):
    """Could not connect, or the connection closed while the command was pending."""


class RedisTimeout(RedisError, TimeoutError):
    """No reply (or no connection) within the client's timeout."""


def encode(args: Iterable[Arg]) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [b"", *map(bulk, args)]
    parts[0] = b"*%d\r\n" % (len(parts) - 1)
    return b"".join(parts)


def bulk(arg: Arg) -> bytes:
    """One argument as a bulk string; ``encode`` is a header plus these, so callers can cache pieces."""
    if isinstance(arg, str):
        b = arg.encode()
    elif isinstance(arg, bytes):
        b = arg
    elif isinstance(arg, int) and not isinstance(arg, bool):
        b = b"%d" % arg
    else:
        # Not str(arg): a bool or a float would reach Lua as text no script expects.
        raise TypeError(f"a Redis argument must be str, bytes or int, not {type(arg).__name__}")
    return b"$%d\r\n%s\r\n" % (len(b), b)


def bulks(*args: Arg) -> bytes:
    """Arguments without the array header: the per-request part of a command whose other parts are
    encoded once and cached."""
    return b"".join(map(bulk, args))


def error_of(message: str) -> ReplyError:
    return NoScriptError(message) if message.startswith("NOSCRIPT") else ReplyError(message)


def parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """The reply starting at ``buf[pos]`` and the position after it, or ``(None, INCOMPLETE)`` when
    ``buf`` ends first. The caller keeps the unparsed tail and retries with more bytes: replies to the
    limiter are a few dozen bytes, so re-parsing a split one from its start costs less than keeping a
    resumable parser state."""
    end = buf.find(_CR, pos)
    if end < 0:
        return None, INCOMPLETE
    kind = buf[pos]
    if kind == 36:  # $ bulk string, the reply of the reserve script
        n = int(buf[pos + 1 : end])
        if n < 0:
            return None, end + 2
        start = end + 2
        stop = start + n
        if len(buf) < stop + 2:
            return None, INCOMPLETE
        if buf[stop : stop + 2] != _CR:
            raise ProtocolError("bulk string without its CRLF")
        return buf[start:stop], stop + 2
    if kind == 58:  # : integer
        return int(buf[pos + 1 : end]), end + 2
    if kind == 43:  # + simple string
        return buf[pos + 1 : end].decode(errors="replace"), end + 2
    if kind == 45:  # - error
        return error_of(buf[pos + 1 : end].decode(errors="replace")), end + 2
    if kind == 42:  # * array
        return _array(buf, int(buf[pos + 1 : end]), end + 2)
    raise ProtocolError(f"unexpected RESP type byte {bytes([kind])!r}")


def _array(buf: bytes, n: int, pos: int) -> tuple[Any, int]:
    if n < 0:
        return None, pos
    items: list[Any] = []
    for _ in range(n):
        item, pos = parse(buf, pos)
        if pos == INCOMPLETE:
            return None, INCOMPLETE
        items.append(item)
    return items, pos


class Target(NamedTuple):
    """Where and how to connect, from a ``redis://``, ``rediss://`` or ``unix://`` URL."""

    host: str
    port: int
    path: str | None  # a unix socket instead of host:port
    tls: bool
    username: str | None
    password: str | None
    db: int

    def hello(self) -> list[list[Arg]]:
        """The commands a new connection sends before any other: AUTH, SELECT."""
        out: list[list[Arg]] = []
        if self.password:
            out.append(["AUTH", self.username, self.password] if self.username else ["AUTH", self.password])
        if self.db:
            out.append(["SELECT", self.db])
        return out

    def __str__(self) -> str:
        # For error messages and logs: never the credentials.
        where = self.path if self.path is not None else f"{self.host}:{self.port}"
        return f"{'rediss' if self.tls else 'unix' if self.path else 'redis'}://{where}/{self.db}"


def parse_url(url: str) -> Target:
    """``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS, verified against the system
    CA store), ``unix://[[user]:password@]/path?db=N``; ``?db=`` and ``?password=`` also as query
    parameters, as redis-py accepts them. User and password are URL-decoded."""
    u = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(u.query).items()}
    username = unquote(u.username) if u.username else None
    password = unquote(u.password) if u.password else query.get("password")
    db_text = query.get("db")
    if u.scheme == "unix":
        if not u.path:
            raise ValueError("unix:// URL without a socket path")
        host, port, path = "", 0, u.path
    elif u.scheme in ("redis", "rediss"):
        host, port, path = u.hostname or "localhost", u.port or 6379, None
        if db_text is None and u.path.strip("/"):
            db_text = u.path.strip("/")
    else:
        raise ValueError(f"not a redis://, rediss:// or unix:// URL: scheme {u.scheme!r}")
    try:
        db = int(db_text) if db_text is not None else 0
    except ValueError:
        raise ValueError(f"database must be a number, not {db_text!r}") from None
    if db < 0:
        raise ValueError("database must not be negative")
    return Target(host, port, path, u.scheme == "rediss", username or None, password or None, db)
