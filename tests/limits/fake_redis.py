"""A tiny in-test RESP server for what the shared Redis must not be used for: checking the exact bytes a
client sends (AUTH, SELECT), a server that never answers, one that drops the connection mid-batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from brutor.limits import resp

Mode = Literal["answer", "silent", "drop"]
# A handler's answer that closes the connection instead (after writing the replies before it).
DROP = object()


def reply(value: object) -> bytes:
    """RESP2 bytes of a reply: str -> simple string, bytes -> bulk, int, None -> null bulk, list -> array,
    ``resp.ReplyError`` -> error."""
    if isinstance(value, resp.ReplyError):
        return b"-%s\r\n" % str(value).encode()
    if isinstance(value, str):
        return b"+%s\r\n" % value.encode()
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, bool) or not isinstance(value, int | list | type(None)):
        raise TypeError(value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    if value is None:
        return b"$-1\r\n"
    return b"*%d\r\n" % len(value) + b"".join(reply(v) for v in value)


def default_handler(command: list[bytes]) -> object:
    name = command[0].upper()
    if name in (b"AUTH", b"SELECT"):
        return "OK"
    if name == b"PING":
        return "PONG"
    if name == b"ECHO":
        return command[1]
    return resp.ReplyError(f"ERR unknown command '{command[0].decode()}'")


class FakeRedis:
    """``async with FakeRedis() as fake: fake.url``. ``mode``: answer each command (``handler``; its
    ``DROP`` closes the connection there), stay silent, or close the connection when a batch arrives.
    Every command received is kept in order."""

    def __init__(self, *, unix_path: str | None = None, mode: Mode = "answer") -> None:
        self.unix_path = unix_path
        self.mode: Mode = mode
        self.handler: Callable[[list[bytes]], object] = default_handler
        self.commands: list[list[bytes]] = []
        self.raw = b""
        self.reads: list[bytes] = []  # as received, to see what came in one write
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        if self.unix_path is not None:
            return f"unix://{self.unix_path}"
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> FakeRedis:
        if self.unix_path is not None:
            self._server = await asyncio.start_unix_server(self._serve, self.unix_path)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for w in self._writers:
            w.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        buf = b""
        try:
            while data := await reader.read(65536):
                self.raw += data
                self.reads.append(data)
                buf += data
                out = []
                drop = self.mode == "drop"
                while buf and not drop:
                    command, end = resp.parse(buf, 0)
                    if end == resp.INCOMPLETE:
                        break
                    buf = buf[end:]
                    self.commands.append(command)
                    answer = self.handler(command)
                    if answer is DROP:
                        drop = True
                    else:
                        out.append(reply(answer))
                if self.mode != "silent":
                    writer.write(b"".join(out))
                if drop:
                    await writer.drain()
                    writer.transport.abort()
                    return
        except ConnectionError:
            pass
        finally:
            writer.close()
