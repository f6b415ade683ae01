"""RESP2 codec: command encoding, the incremental reply reader (any split of a reply stream into chunks
reads the same), errors as values or exceptions, and the URL format."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fake_redis import reply
from hypothesis import given, settings
from hypothesis import strategies as st

from brutor.limits import resp
from brutor.limits.redis_client import _Connection

TARGET = resp.parse_url("redis://127.0.0.1:1/0")


def test_encode_is_an_array_of_bulk_strings() -> None:
    assert resp.encode(["SET", b"k\r\n", 42, "é"]) == (
        b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n42\r\n$2\r\n\xc3\xa9\r\n"
    )
    assert resp.encode([]) == b"*0\r\n"
    assert resp.encode(["X", -7]) == b"*2\r\n$1\r\nX\r\n$2\r\n-7\r\n"


@pytest.mark.parametrize("bad", [True, 1.5, None, ["a"]])
def test_encode_refuses_what_lua_would_misread(bad: Any) -> None:
    with pytest.raises(TypeError):
        resp.encode(["SET", "k", bad])


def test_bulks_are_encode_without_the_header() -> None:
    args = (1_741_953_600_000, "ab12-7", -3, 0, "1:5:0 2:9:0", "é", b"\x00")
    assert resp.encode(["X", *args]) == b"*8\r\n$1\r\nX\r\n" + resp.bulks(*args)


# Replies as the tests write them: the parser must give back the same, errors as ReplyError values.
class NullArray:
    pass


leaves = st.one_of(
    st.text(st.characters(exclude_characters="\r\n", codec="utf-8"), max_size=12),  # simple string
    st.binary(max_size=40),  # bulk, may contain CRLF
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.none(),  # null bulk
    st.just(NullArray()),
    st.sampled_from(["ERR boom", "NOSCRIPT No matching script", "WRONGTYPE Operation"]).map(resp.error_of),
)
replies = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5), max_leaves=25)


def wire(value: Any) -> bytes:
    if isinstance(value, NullArray):
        return b"*-1\r\n"
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(wire(v) for v in value)
    return reply(value)


def plain(value: Any) -> Any:
    """Comparable form: errors by class and message, null arrays as None."""
    if isinstance(value, resp.ReplyError):
        return (type(value).__name__, str(value))
    if isinstance(value, NullArray):
        return None
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    yield lp
    lp.close()


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(replies, min_size=1, max_size=8), cuts=st.lists(st.integers(0, 10_000), max_size=12))
def test_any_split_of_a_reply_stream_reads_the_same(
    loop: asyncio.AbstractEventLoop, batch: list[Any], cuts: list[int]
) -> None:
    stream = b"".join(wire(v) for v in batch)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    conn = _Connection(loop, TARGET)
    futures = [loop.create_future() for _ in batch]
    conn.pending.extend((f, 0.0) for f in futures)
    for chunk in chunks:
        if chunk:
            conn.data_received(chunk)
    assert conn.failed is None and not conn.pending and conn.rest == b""
    got = [plain(f.exception()) if f.exception() is not None else plain(f.result()) for f in futures]
    assert got == [plain(v) for v in batch]


def test_top_level_errors_raise_and_nested_ones_are_values(loop: asyncio.AbstractEventLoop) -> None:
    conn = _Connection(loop, TARGET)
    futures = [loop.create_future() for _ in range(3)]
    conn.pending.extend((f, 0.0) for f in futures)
    conn.data_received(b"-NOSCRIPT No matching script\r\n-ERR x\r\n*2\r\n-ERR in array\r\n:1\r\n")
    assert isinstance(futures[0].exception(), resp.NoScriptError)
    exc = futures[1].exception()
    assert type(exc) is resp.ReplyError and str(exc) == "ERR x"
    inner, one = futures[2].result()
    assert isinstance(inner, resp.ReplyError) and one == 1


@pytest.mark.parametrize("garbage", [b"?what\r\n", b":12x\r\n", b"$3\r\nabcd\r\n"])
def test_garbage_fails_the_connection(loop: asyncio.AbstractEventLoop, garbage: bytes) -> None:
    conn = _Connection(loop, TARGET)
    fut = loop.create_future()
    conn.pending.append((fut, 0.0))
    conn.data_received(garbage)
    assert isinstance(conn.failed, resp.ProtocolError)
    assert isinstance(fut.exception(), resp.ProtocolError)


def test_a_reply_nobody_asked_for_fails_the_connection(loop: asyncio.AbstractEventLoop) -> None:
    conn = _Connection(loop, TARGET)
    conn.data_received(b"+OK\r\n")
    assert isinstance(conn.failed, resp.ProtocolError)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://localhost", ("localhost", 6379, None, False, None, None, 0)),
        ("redis://10.0.0.5:6380/3", ("10.0.0.5", 6380, None, False, None, None, 3)),
        ("redis://:p%40ss@h/2", ("h", 6379, None, False, None, "p@ss", 2)),
        (
            "rediss://alice:s3cr3t@redis.example:6390/0",
            ("redis.example", 6390, None, True, "alice", "s3cr3t", 0),
        ),
        ("redis://h?db=4&password=pw", ("h", 6379, None, False, None, "pw", 4)),
        ("redis://[::1]:7000", ("::1", 7000, None, False, None, None, 0)),
        ("unix:///run/redis.sock?db=5", ("", 0, "/run/redis.sock", False, None, None, 5)),
        ("unix://:pw@/run/redis.sock", ("", 0, "/run/redis.sock", False, None, "pw", 0)),
    ],
)
def test_urls(url: str, expected: tuple[object, ...]) -> None:
    assert tuple(resp.parse_url(url)) == expected


@pytest.mark.parametrize("url", ["http://h", "redis://h/x", "redis://h/-1", "unix://", "redis://h:99999"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        resp.parse_url(url)


def test_hello_commands_and_printing_never_shows_the_password() -> None:
    target = resp.parse_url("redis://alice:s3cr3t@h:1/3")
    assert target.hello() == [["AUTH", "alice", "s3cr3t"], ["SELECT", 3]]
    assert resp.parse_url("redis://:pw@h").hello() == [["AUTH", "pw"]]
    assert resp.parse_url("redis://h/0").hello() == []
    assert "s3cr3t" not in str(target) and str(target) == "redis://h:1/3"
