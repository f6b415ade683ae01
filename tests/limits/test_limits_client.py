"""The limiter's Redis client against the real server (pipelining, SELECT, replies and errors, a caller
that gives up) and against an in-test fake (AUTH framing, a server that never answers, a connection
dropped mid-batch, one connect shared by many callers, unix sockets)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fake_redis import DROP, FakeRedis, default_handler
from limits_support import REDIS_URL

from brutor.limits import resp
from brutor.limits.redis_client import RedisClient

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def key() -> str:
    return f"brutor:rl:test-client-{uuid.uuid4().hex[:12]}"


def test_concurrent_calls_get_their_own_replies_in_few_writes() -> None:
    async def go() -> tuple[list[Any], int]:
        client = RedisClient(REDIS_URL, timeout=2.0)
        await client.ping()
        before = client.writes
        k = key()
        try:
            results = await asyncio.gather(
                *(client.execute("ECHO", f"caller-{i}") for i in range(50)),
                *(client.execute("INCRBY", k, 1) for _ in range(50)),
            )
            return results, client.writes - before
        finally:
            await client.execute("DEL", k)
            await client.aclose()

    results, writes = run(go())
    assert results[:50] == [f"caller-{i}".encode() for i in range(50)]
    assert results[50:] == list(range(1, 51))  # FIFO: each reply went to its own caller
    assert writes == 1  # issued in one loop iteration: one batch, one write


def test_concurrent_tasks_share_writes() -> None:
    async def go() -> tuple[int, int]:
        client = RedisClient(REDIS_URL, timeout=2.0)
        await client.ping()
        before = client.writes

        async def worker(i: int) -> None:
            for j in range(10):
                assert await client.execute("ECHO", f"{i}-{j}") == f"{i}-{j}".encode()

        try:
            await asyncio.gather(*(worker(i) for i in range(100)))
            return 1000, client.writes - before
        finally:
            await client.aclose()

    calls, writes = run(go())
    assert writes < calls / 10


def test_reply_types_and_error_replies_keep_the_connection() -> None:
    async def go() -> None:
        client = RedisClient(REDIS_URL, timeout=2.0)
        k = key()
        try:
            assert await client.execute("SET", k, "x") == "OK"
            with pytest.raises(resp.ReplyError, match="WRONGTYPE"):
                await client.execute("LPUSH", k, 1)
            assert await client.execute("GET", k) == b"x"  # still in step after the error
            assert await client.execute("GET", k + ":missing") is None
            assert await client.execute("RPUSH", k + ":l", "a", b"b", 3) == 3
            assert await client.execute("LRANGE", k + ":l", 0, -1) == [b"a", b"b", b"3"]
            with pytest.raises(resp.NoScriptError):
                await client.evalsha("0" * 40, 0)
            one, nested, err = await client.eval("return {1, {2, 'x'}, redis.error_reply('E bad')}", 0)
            assert (one, nested) == (1, [2, b"x"])
            assert isinstance(err, resp.ReplyError) and str(err) == "E bad"
        finally:
            await client.execute("DEL", k, k + ":l")
            await client.aclose()

    run(go())


def test_select_isolates_databases() -> None:
    k = key()

    async def go() -> tuple[object, object, object]:
        db14 = RedisClient("redis://127.0.0.1:6379/14", timeout=2.0)
        db15 = RedisClient("redis://127.0.0.1:6379?db=15", timeout=2.0)
        db15_again = RedisClient("redis://127.0.0.1:6379/15", timeout=2.0)
        try:
            await db15.execute("SET", k, "in-15", "PX", 60_000)
            return (
                await db14.execute("GET", k),
                await db15_again.execute("GET", k),
                await db15.execute("DEL", k),
            )
        finally:
            for c in (db14, db15, db15_again):
                await c.aclose()

    assert run(go()) == (None, b"in-15", 1)


@pytest.mark.parametrize(
    ("userinfo", "auth"),
    [
        ("alice:s3cr%2Ft@", b"*3\r\n$4\r\nAUTH\r\n$5\r\nalice\r\n$6\r\ns3cr/t\r\n"),
        (":pw@", b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"),
    ],
)
def test_auth_and_select_go_first_in_one_batch(userinfo: str, auth: bytes) -> None:
    async def go() -> tuple[list[bytes], int, list[Any]]:
        async with FakeRedis() as fake:
            url = fake.url.replace("redis://", f"redis://{userinfo}") + "/3"
            client = RedisClient(url, timeout=2.0)
            replies = list(await asyncio.gather(client.ping(), client.execute("ECHO", "hi")))
            await client.aclose()
            return fake.reads, fake.connections, replies

    reads, connections, replies = run(go())
    select = b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n"
    # AUTH and SELECT in one write, answered before the callers' commands go out (in one write too).
    assert reads == [auth + select, b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"]
    assert connections == 1 and replies == ["PONG", b"hi"]


def test_auth_refused_fails_the_call_and_is_retried_on_the_next() -> None:
    async def go() -> None:
        async with FakeRedis() as fake:
            fake.handler = lambda c: (
                resp.ReplyError("WRONGPASS invalid password") if c[0] == b"AUTH" else "PONG"
            )
            client = RedisClient(fake.url.replace("redis://", "redis://:nope@"), timeout=2.0)
            with pytest.raises(resp.ReplyError, match="WRONGPASS"):
                await client.ping()
            fake.handler = lambda c: "OK" if c[0] == b"AUTH" else "PONG"
            assert await client.ping() == "PONG"
            await client.aclose()
            assert fake.connections == 2

    run(go())


def test_unix_socket_url(tmp_path: Path) -> None:
    async def go() -> list[list[bytes]]:
        async with FakeRedis(unix_path=str(tmp_path / "r.sock")) as fake:
            client = RedisClient(fake.url + "?db=2", timeout=2.0)
            assert await client.ping() == "PONG"
            await client.aclose()
            return fake.commands

    assert run(go()) == [[b"SELECT", b"2"], [b"PING"]]


def test_a_silent_server_times_out_then_the_next_call_reconnects() -> None:
    async def go() -> tuple[float, float, int]:
        async with FakeRedis(mode="silent") as fake:
            client = RedisClient(fake.url, timeout=0.1)
            t = time.perf_counter()
            outcomes = await asyncio.gather(client.ping(), client.ping(), return_exceptions=True)
            took = time.perf_counter() - t
            assert all(isinstance(o, resp.RedisTimeout) for o in outcomes), outcomes
            assert "timed out" in str(outcomes[0])
            fake.mode = "answer"
            t = time.perf_counter()
            assert await client.ping() == "PONG"
            again = time.perf_counter() - t
            await client.aclose()
            return took, again, fake.connections

    took, again, connections = run(go())
    assert 0.09 < took < 0.3
    assert again < 0.1 and connections == 2


def test_connecting_is_bounded_by_the_timeout_too() -> None:
    async def go() -> float:
        async with FakeRedis(mode="silent") as fake:  # the TCP connect succeeds, AUTH is never answered
            client = RedisClient(fake.url.replace("redis://", "redis://:pw@"), timeout=0.1)
            t = time.perf_counter()
            with pytest.raises(resp.RedisTimeout, match="connecting"):
                await client.ping()
            took = time.perf_counter() - t
            await client.aclose()
            return took

    assert 0.09 < run(go()) < 0.3


def test_a_connection_dropped_mid_batch_fails_every_pending_call_then_recovers() -> None:
    async def go() -> None:
        async with FakeRedis() as fake:
            fake.handler = lambda c: DROP if c == [b"ECHO", b"5"] else default_handler(c)
            client = RedisClient(fake.url, timeout=2.0)
            calls = (client.execute("ECHO", str(i)) for i in range(20))
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            assert outcomes[:5] == [str(i).encode() for i in range(5)]  # answered before the drop
            assert all(isinstance(o, resp.ConnectionLost) for o in outcomes[5:]), outcomes
            fake.handler = default_handler
            assert await asyncio.gather(*(client.ping() for _ in range(20))) == ["PONG"] * 20
            await client.aclose()
            assert fake.connections == 2

    run(go())


def test_a_connection_killed_by_the_server_fails_its_call_and_is_replaced() -> None:
    async def go() -> None:
        client = RedisClient(REDIS_URL, timeout=2.0)
        admin = RedisClient(REDIS_URL, timeout=2.0)
        k = key()
        try:
            my_id = await client.execute("CLIENT", "ID")
            blocked = asyncio.ensure_future(client.execute("BLPOP", k, 5))
            await asyncio.sleep(0.05)
            assert await admin.execute("CLIENT", "KILL", "ID", my_id) == 1
            with pytest.raises(resp.ConnectionLost):
                await blocked
            assert await client.execute("CLIENT", "ID") != my_id
        finally:
            await client.aclose()
            await admin.aclose()

    run(go())


def test_a_caller_that_gives_up_does_not_shift_the_replies() -> None:
    async def go() -> None:
        client = RedisClient(REDIS_URL, timeout=2.0)
        k = key()
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.execute("BLPOP", k, "0.2"), 0.05)  # cancelled, reply pending
            echo = client.execute("ECHO", "mine")  # queued behind the BLPOP's reply on the wire
            assert await echo == b"mine"
        finally:
            await client.aclose()

    run(go())


def test_callers_arriving_while_connecting_share_one_connection() -> None:
    async def go() -> tuple[list[Any], int]:
        async with FakeRedis() as fake:
            client = RedisClient(fake.url + "/1", timeout=2.0)
            replies = await asyncio.gather(*(client.execute("ECHO", str(i)) for i in range(30)))
            await client.aclose()
            return replies, fake.connections

    replies, connections = run(go())
    assert replies == [str(i).encode() for i in range(30)] and connections == 1


def test_refused_connection() -> None:
    async def go() -> None:
        client = RedisClient("redis://127.0.0.1:1/0", timeout=0.5)  # nothing listens on port 1
        with pytest.raises(resp.ConnectionLost, match="could not connect"):
            await client.ping()
        await client.aclose()

    run(go())


def test_aclose_lets_sent_commands_finish_within_their_deadline() -> None:
    async def go() -> float:
        client = RedisClient(REDIS_URL, timeout=0.3)
        assert await client.ping() == "PONG"
        echo = asyncio.ensure_future(client.execute("ECHO", "last"))
        await asyncio.sleep(0)  # issued, not answered yet
        await client.aclose()
        assert echo.done() and echo.result() == b"last"
        assert await client.ping() == "PONG"  # usable again: it reconnects
        blocked = asyncio.ensure_future(client.execute("BLPOP", key(), 5))
        await asyncio.sleep(0.02)
        t = time.perf_counter()
        await client.aclose()  # cut at the blocked command's deadline
        with pytest.raises(resp.RedisTimeout):
            await blocked
        return time.perf_counter() - t

    assert run(go()) < 0.5


def test_a_client_follows_a_new_event_loop() -> None:
    client = RedisClient(REDIS_URL, timeout=2.0)

    async def ping_and_close() -> object:
        try:
            return await client.ping()
        finally:
            await client.aclose()

    assert run(ping_and_close()) == "PONG"
    assert run(ping_and_close()) == "PONG"


def test_the_limiter_path_does_not_import_redis_py() -> None:
    code = (
        "import sys, brutor.limits.redis_backend, brutor.limits.policy;"
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('redis.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
