"""Tests of the native SSE decoder and chat-stream relay (``brutor._native``).

The oracles are independent: a small line-by-line Python implementation of the WHATWG rules
(``ref_*``) and full JSON parsing (``json.loads``) of every event for the relay accounting, against
the native code that scans without parsing. Streams are realistic OpenAI ``chat.completion.chunk``
events (several JSON serializers, escapes, multi-line data, usage, errors, ``[DONE]``) mixed with
comments, other fields and random events, with LF/CRLF/CR line endings, fed with random splits and
input types.
"""

from __future__ import annotations

import array
import inspect
import itertools
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brutor._native import ChatStreamRelay, SseDecoder, SseError, SseEvent

BOM = b"\xef\xbb\xbf"
LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n)")
TRIM = b" \t\n\r\x0c"  # Rust's `trim_ascii`

Chunk = bytes | bytearray | memoryview
EventTuple = tuple[str | None, bytes, str | None, int | None]

# Applied per test, so that the session's global Hypothesis settings stay untouched.
NATIVE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


# --------------------------------------------------------------------------- reference model


def ref_blocks(stream: bytes) -> tuple[list[bytes], bytes]:
    """Splits a whole stream (BOM removed) into complete raw blocks and the unterminated tail."""
    blocks: list[bytes] = []
    start = 0
    for m in LINE.finditer(stream):
        if m.group(1) == b"":  # a blank line (every match starts a line)
            blocks.append(stream[start : m.end()])
            start = m.end()
    return blocks, stream[start:]


def ref_fields(block: bytes) -> list[tuple[bytes, bytes]]:
    fields = []
    for m in LINE.finditer(block + b"\n"):
        line = m.group(1)
        if not line:
            break
        if line.startswith(b":"):
            continue
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        fields.append((name, value))
    return fields


def ref_data(block: bytes) -> bytes | None:
    data = [v for n, v in ref_fields(block) if n == b"data"]
    return b"\n".join(data) if data else None


def strip_bom(stream: bytes) -> bytes:
    return stream[3:] if stream.startswith(BOM) else stream


def ref_decode(stream: bytes) -> list[EventTuple]:
    """WHATWG event-stream interpretation of a whole stream, as documented for SseDecoder."""
    events: list[EventTuple] = []
    last_id: str | None = None
    blocks, _tail = ref_blocks(strip_bom(stream))
    for block in blocks:
        data: list[bytes] = []
        event = b""
        retry = None
        for name, value in ref_fields(block):
            if name == b"data":
                data.append(value)
            elif name == b"event":
                event = value
            elif name == b"id" and b"\0" not in value:
                last_id = value.decode("utf-8", "replace")
            elif name == b"retry" and value.isdigit() and int(value) < 2**64:
                retry = int(value)
        if data:
            events.append((event.decode("utf-8", "replace") or None, b"\n".join(data), last_id, retry))
    return events


@dataclass
class Acct:
    done: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    content_chars: int = 0
    events: int = 0
    finish_reason: str | None = None
    error: Any = None
    model: str | None = None


def acct_of(r: ChatStreamRelay) -> Acct:
    return Acct(
        done=r.done,
        prompt_tokens=r.prompt_tokens,
        completion_tokens=r.completion_tokens,
        total_tokens=r.total_tokens,
        cached_tokens=r.cached_tokens,
        content_chars=r.content_chars,
        events=r.events,
        finish_reason=r.finish_reason,
        error=None if r.error is None else json.loads(r.error),
        model=r.model,
    )


def is_usage_only(obj: dict[str, Any]) -> bool:
    return obj.get("choices") == [] and isinstance(obj.get("usage"), dict)


def account(acct: Acct, obj: dict[str, Any]) -> None:
    """Accounting of one chunk from its fully parsed JSON."""
    if acct.model is None and isinstance(obj.get("model"), str):
        acct.model = obj["model"]
    for choice in obj.get("choices") or []:
        delta = choice.get("delta") or {}
        for key in ("content", "reasoning_content"):
            if isinstance(delta.get(key), str):
                acct.content_chars += len(delta[key])
        for call in delta.get("tool_calls") or []:
            args = (call.get("function") or {}).get("arguments")
            if isinstance(args, str):
                acct.content_chars += len(args)
        if isinstance(choice.get("finish_reason"), str):
            acct.finish_reason = choice["finish_reason"]
    for usage in (obj.get("usage"), (obj.get("x_groq") or {}).get("usage")):
        if isinstance(usage, dict):
            acct.prompt_tokens = usage.get("prompt_tokens")
            acct.completion_tokens = usage.get("completion_tokens")
            acct.total_tokens = usage.get("total_tokens")
            acct.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if obj.get("error") is not None:
        acct.error = obj["error"]


def ref_relay(stream: bytes, strip: bool, finish: bool = True) -> tuple[bytes, Acct]:
    """What the relay forwards in total (feeds, and finish if asked) and its accounting."""
    acct = Acct()
    out: list[bytes] = []
    blocks, tail = ref_blocks(strip_bom(stream))
    for block in blocks:
        data = ref_data(block)
        if data is not None:
            if data.strip(TRIM) == b"[DONE]":
                acct.done = True
                return b"".join(out), acct
            acct.events += 1
            try:
                obj = json.loads(data)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                account(acct, obj)
                if strip and is_usage_only(obj):
                    continue
        out.append(block)
    # finish(): the complete comment lines at the start of the tail
    for m in LINE.finditer(tail if finish else b""):
        if not m.group(1).startswith(b":"):
            break
        out.append(m.group(0))
    return b"".join(out), acct


def event_tuple(e: SseEvent) -> EventTuple:
    return (e.event, e.data, e.id, e.retry)


# --------------------------------------------------------------------------- feeding helpers


def as_type(chunk: bytes, kind: str) -> Chunk:
    if kind == "bytearray":
        return bytearray(chunk)
    if kind == "memoryview":
        return memoryview(chunk)
    if kind == "memoryview-slice":
        return memoryview(b"#" + chunk + b"#")[1:-1]
    return chunk


def split(stream: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(min(c, len(stream)) for c in cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(points)]


def decode_all(chunks: Sequence[Chunk], max_event_bytes: int = 1 << 20) -> list[EventTuple]:
    d = SseDecoder(max_event_bytes)
    events = [event_tuple(e) for c in chunks for e in d.feed(c)]
    events += [event_tuple(e) for e in d.finish()]
    assert d.buffered == 0
    return events


def relay_all(chunks: Sequence[Chunk], strip: bool, max_event_bytes: int = 1 << 20) -> tuple[bytes, Acct]:
    r = ChatStreamRelay(strip, max_event_bytes)
    out = b"".join(r.feed(c) for c in chunks) + r.finish()
    return out, acct_of(r)


# --------------------------------------------------------------------------- stream strategies

EOL = st.sampled_from([b"\n", b"\r\n", b"\r"])
TEXT = st.text(max_size=12) | st.sampled_from(
    ["", '"', "\\", "\n\r", "😀", "é\u2028", '\\"content": x', "\0"]
)


def dumps_compact(obj: Any) -> bytes:
    return orjson.dumps(obj)


def dumps_ascii(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def dumps_spaced(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(" , ", " : ")).encode()


def dumps_indented(obj: Any) -> bytes:
    return json.dumps(obj, indent=1).encode()


SERIALIZERS: list[Callable[[Any], bytes]] = [dumps_compact, dumps_ascii, dumps_spaced, dumps_indented]


@st.composite
def chunk_obj(draw: st.DrawFn) -> dict[str, Any]:
    """A realistic ``chat.completion.chunk``, or a usage-only chunk, or an error event."""
    kind = draw(st.sampled_from(["delta", "delta", "delta", "tool", "finish", "usage", "groq", "error"]))
    if kind == "error":
        return {"error": {"message": draw(TEXT), "type": "server_error", "code": None}}
    obj: dict[str, Any] = {
        "id": "chatcmpl-" + draw(st.text("abcXYZ019", max_size=8)),
        "object": "chat.completion.chunk",
        "created": 1761234567,
        "model": draw(st.sampled_from(["gpt-4o-mini", "o3", 'm\\"odel'])),
        "system_fingerprint": "fp_34a54ae93c",
    }
    usage: dict[str, Any] = {
        "prompt_tokens": draw(st.integers(0, 10**6)),
        "completion_tokens": draw(st.integers(0, 10**6)),
        "total_tokens": draw(st.integers(0, 10**6)),
    }
    if draw(st.booleans()):
        usage["prompt_tokens_details"] = {"cached_tokens": draw(st.integers(0, 999)), "audio_tokens": 0}
    if kind == "usage":
        return {**obj, "choices": [], "usage": usage}
    delta: dict[str, Any] = {}
    if kind == "delta":
        delta["content"] = draw(TEXT | st.none())
        if draw(st.booleans()):
            delta["reasoning_content"] = draw(TEXT)
    elif kind == "tool":
        delta["content"] = None
        delta["tool_calls"] = [
            {
                "index": 0,
                "id": "call_1",
                "type": "function",
                "function": {"name": "f", "arguments": draw(TEXT)},
            }
        ]
    choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
    if kind in ("finish", "groq"):
        choice["finish_reason"] = draw(st.sampled_from(["stop", "length", "tool_calls", 'we\\ird"']))
    if draw(st.booleans()):
        choice["logprobs"] = {"content": [{"token": draw(TEXT), "logprob": -0.5, "top_logprobs": []}]}
    obj["choices"] = [choice]
    obj["usage"] = None
    if kind == "groq":
        obj["x_groq"] = {"id": "req_1", "usage": usage}
    if draw(st.booleans()):
        # Keys that end like the scanned ones after an escaped quote must not be taken for them.
        decoys = {'say "content': draw(TEXT), 'my "usage': usage, 'an "error': {"m": 1}, 'a "model': "x"}
        (delta if draw(st.booleans()) else obj).update(decoys)
    return obj


@st.composite
def chunk_event(draw: st.DrawFn) -> list[bytes]:
    """The lines of one chunk event (several data lines when the JSON is indented)."""
    payload = draw(st.sampled_from(SERIALIZERS))(draw(chunk_obj()))
    prefix = draw(st.sampled_from([b"data: ", b"data:"]))
    lines = [prefix + line for line in payload.split(b"\n")]
    extra = draw(
        st.lists(st.sampled_from([b": keep-alive", b"id: 7", b"event: message", b"retry: 100"]), max_size=2)
    )
    return [*extra, *lines]


FIELD_LINE = st.one_of(
    st.binary(max_size=8).map(lambda b: b"data: " + b.replace(b'"', b"'")),
    st.sampled_from([b"data", b"data:", b"data:  two spaces", b":", b": comment", b"x", b"retry", b"event"]),
    st.sampled_from([b"id: ", b"id:", b"event: ", b"retry: "]).flatmap(
        lambda p: st.text(alphabet="ab1\0é ", max_size=4).map(lambda t: p + t.encode())
    ),
    st.sampled_from([b"retry: 1", b"retry: 99999999999999999999999", b"retry: -1", b"retry:12a"]),
).map(lambda line: re.sub(rb"[\r\n]", b"_", line))

RANDOM_EVENT = st.lists(FIELD_LINE, max_size=4)
DONE_EVENT = st.sampled_from([[b"data: [DONE]"], [b"data:[DONE]"], [b": bye", b"data: [DONE] "]])


@st.composite
def sse_stream(draw: st.DrawFn, chat: bool = True) -> bytes:
    events = draw(st.lists(chunk_event() if chat else RANDOM_EVENT, max_size=8))
    if chat:
        events += draw(st.lists(RANDOM_EVENT, max_size=2))
        events = draw(st.permutations(events))
        if draw(st.booleans()):
            events.append(draw(DONE_EVENT))
            events += draw(st.lists(chunk_event(), max_size=2))
    out = [BOM] if draw(st.integers(0, 9)) == 0 else []
    for lines in events:
        for line in lines:
            out += [line, draw(EOL)]
        # An LF right after a line's CR would extend that line ending instead of ending the event.
        after_cr = bool(out) and out[-1] == b"\r"
        out.append(draw(st.sampled_from([b"\r\n", b"\r"]) if after_cr else EOL))
    tail = draw(
        st.sampled_from([b"", b'data: {"choices"', b": ping\n", b": a\r\n: b\rdata: x\n", b"data: x\n"])
    )
    return b"".join(out) + tail


@st.composite
def stream_and_chunks(draw: st.DrawFn, chat: bool = True) -> tuple[bytes, list[Chunk]]:
    stream = draw(sse_stream(chat))
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=12))
    kinds = st.sampled_from(["bytes", "bytes", "bytearray", "memoryview", "memoryview-slice"])
    return stream, [as_type(c, draw(kinds)) for c in split(stream, cuts)]


# --------------------------------------------------------------------------- decoder


@NATIVE
@given(stream_and_chunks(chat=False))
def test_decoder_any_split_matches_reference(case: tuple[bytes, list[Chunk]]) -> None:
    stream, chunks = case
    assert decode_all(chunks) == decode_all([stream]) == ref_decode(stream)


@NATIVE
@given(stream_and_chunks(chat=True))
def test_decoder_on_chat_streams_matches_reference(case: tuple[bytes, list[Chunk]]) -> None:
    stream, chunks = case
    assert decode_all(chunks) == ref_decode(stream)


def test_decoder_every_single_cut() -> None:
    stream = b"\xef\xbb\xbf: hi\r\ndata: a\r\ndata\r\n\r\nevent: e\rid: 7\rretry: 5\rdata:b\r\r\ndata: c\n\n"
    want = ref_decode(stream)
    assert len(want) == 3
    for i in range(len(stream) + 1):
        for j in range(i, len(stream) + 1):
            assert decode_all([stream[:i], stream[i:j], stream[j:]]) == want, (i, j)


def test_decoder_edge_cases() -> None:
    d = SseDecoder()
    assert [event_tuple(e) for e in d.feed(b"data: a\r")] == [] and d.buffered == 8
    assert [event_tuple(e) for e in d.feed(b"\n\r")] == [(None, b"a", None, None)]
    assert [event_tuple(e) for e in d.feed(b"\ndata: b\n\n")] == [(None, b"b", None, None)]
    assert decode_all([b"id: \xff\ndata: x\n\n"]) == [(None, b"x", "\ufffd", None)]
    assert decode_all([b"event: e\nid: 1\nretry: 3\n\n"]) == []  # no data: not dispatched
    assert decode_all([b"data: x"]) == []  # unterminated final event is discarded
    assert decode_all([b"data: x\n"]) == []


def test_decoder_finish_discards_pending_and_reports_it() -> None:
    d = SseDecoder()
    assert [event_tuple(e) for e in d.feed(b"data: done\n\ndata: partial")] == [(None, b"done", None, None)]
    assert d.buffered == len(b"data: partial")
    assert d.finish() == []
    assert d.buffered == 0
    assert [event_tuple(e) for e in d.feed(b"data: next\n\n")] == [(None, b"next", None, None)]


def test_sse_event_value_object() -> None:
    (e,) = SseDecoder().feed(b"event: x\nid: 1\nretry: 20\ndata: a\ndata: b\n\n")
    assert (e.event, e.data, e.id, e.retry) == ("x", b"a\nb", "1", 20)
    assert repr(e) == "SseEvent(event='x', data=b'a\\nb', id='1', retry=20)"
    with pytest.raises(AttributeError):
        e.data = b"y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SseEvent()
    with pytest.raises(TypeError):
        type("Sub", (SseEvent,), {})


@pytest.mark.parametrize("cls", [SseDecoder, ChatStreamRelay])
def test_rejects_non_bytes(cls: type[SseDecoder] | type[ChatStreamRelay]) -> None:
    with pytest.raises(TypeError, match="expected bytes, bytearray or memoryview, not str"):
        cls().feed("data: x\n\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cls().feed(memoryview(array.array("i", [1])))


def test_defaults_in_signatures() -> None:
    assert str(inspect.signature(SseDecoder)) == "(max_event_bytes=1048576)"
    assert str(inspect.signature(ChatStreamRelay)) == "(strip_usage_chunk=False, max_event_bytes=1048576)"
    SseDecoder().feed(b"data: " + b"x" * ((1 << 20) - 7))  # 1 MiB - 1 pending: fine
    with pytest.raises(SseError):
        ChatStreamRelay().feed(b"data: " + b"x" * ((1 << 20) - 5))


def ref_max_size(stream: bytes, stop_at_done: bool) -> int:
    """Largest event size as max_event_bytes counts it: its bytes up to its blank line."""
    blocks, tail = ref_blocks(strip_bom(stream))
    sizes = [len(tail)]
    for b in blocks:
        sizes.append(len(b) - (2 if b.endswith(b"\r\n") else 1))
        data = ref_data(b)
        if stop_at_done and data is not None and data.strip(TRIM) == b"[DONE]":
            return max(sizes[1:])
    return max(sizes)


@NATIVE
@given(stream_and_chunks(chat=True), st.integers(0, 400))
def test_max_event_bytes_is_independent_of_split(case: tuple[bytes, list[Chunk]], limit: int) -> None:
    stream, chunks = case
    too_big = ref_max_size(stream, stop_at_done=False) > limit
    d = SseDecoder(limit)
    try:
        for c in chunks:
            d.feed(c)
    except SseError as e:
        assert too_big, e
        assert isinstance(e, ValueError)
        assert d.buffered == 0
        with pytest.raises(SseError):
            d.feed(b"data: x\n\n")  # failure is sticky
    else:
        assert not too_big

    too_big = ref_max_size(stream, stop_at_done=True) > limit
    r = ChatStreamRelay(False, limit)
    try:
        for c in chunks:
            r.feed(c)
    except SseError:
        assert too_big
        with pytest.raises(SseError):
            r.feed(b"")
        assert r.finish() == b""
    else:
        assert not too_big


# --------------------------------------------------------------------------- relay


@NATIVE
@given(stream_and_chunks(chat=True), st.booleans())
def test_relay_any_split_matches_reference(case: tuple[bytes, list[Chunk]], strip: bool) -> None:
    stream, chunks = case
    want_out, want_acct = ref_relay(stream, strip)
    assert relay_all([stream], strip) == (want_out, want_acct)
    assert relay_all(chunks, strip) == (want_out, want_acct)


@NATIVE
@given(stream_and_chunks(chat=True), st.booleans())
def test_relay_forwards_exactly_the_complete_events_so_far(
    case: tuple[bytes, list[Chunk]], strip: bool
) -> None:
    _, chunks = case
    r = ChatStreamRelay(strip)
    fed = b""
    out = b""
    for c in chunks:
        fed += bytes(c)
        out += r.feed(c)
        assert (out, acct_of(r)) == ref_relay(fed, strip, finish=False)


def test_relay_identity_fast_path() -> None:
    events = [json.dumps(obj).encode() for obj in realistic_objs()]
    r = ChatStreamRelay(strip_usage_chunk=True)
    for payload in events[:-1]:
        chunk = b"data: " + payload + b"\n\n"
        assert r.feed(chunk) is chunk
        assert r.feed(chunk + chunk) == chunk + chunk
    usage = b"data: " + events[-1] + b"\n\n"
    assert r.feed(usage) == b""
    assert r.feed(b": ping\r\n\r\n" + usage) == b": ping\r\n\r\n"
    assert r.feed(b"data: x\n") == b""  # held back, so the next one is rebuilt
    nxt = b"\n"
    out = r.feed(nxt)
    assert out == b"data: x\n\n" and out is not nxt
    cr = b"data: y\r\r"
    assert r.feed(cr) is cr
    lf = b"\n"
    assert r.feed(lf) is lf  # the LF completing the previous CR goes with its (kept) event
    for kind in ("bytearray", "memoryview"):
        got = r.feed(as_type(cr, kind))
        assert type(got) is bytes and got == cr
    from pyreqwest.bytes import Bytes  # the HTTP client's zero-copy body buffer

    # Copied once into bytes: granian's send_bytes is fast only for bytes.
    got = r.feed(Bytes(cr))
    assert type(got) is bytes and got == cr
    done = b"data: [DONE]\n\n"
    assert r.feed(done) == b"" and r.done
    assert r.feed(cr) == b""


@NATIVE
@given(st.lists(chunk_event(), min_size=1, max_size=6), st.booleans(), st.data())
def test_relay_identity_for_chunks_of_whole_events(
    events: list[list[bytes]], strip: bool, data: st.DataObject
) -> None:
    blocks = [b"".join(line + b"\n" for line in lines) + b"\n" for lines in events]
    r = ChatStreamRelay(strip)
    i = 0
    while i < len(blocks):
        n = data.draw(st.integers(1, len(blocks) - i))
        chunk = b"".join(blocks[i : i + n])
        out = r.feed(chunk)
        removed = strip and any(is_usage_only(json.loads(ref_data(b) or b"")) for b in blocks[i : i + n])
        assert (out is chunk) is not removed
        i += n


WORDS = ["The", " capital", " of", " France", " is", " Paris", ".", " «Ça»", " 😀", ' "q"\\']


def realistic_objs() -> list[dict[str, Any]]:
    base = {
        "id": "chatcmpl-BkQ7yZ3mW9pLxT2vR8nC4dF6gH1jK",
        "object": "chat.completion.chunk",
        "created": 1761234567,
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "system_fingerprint": "fp_34a54ae93c",
    }
    words = WORDS * 5
    objs = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}], "usage": None}]
    objs += [
        {
            **base,
            "choices": [{"index": 0, "delta": {"content": w}, "logprobs": None, "finish_reason": None}],
            "usage": None,
        }
        for w in words
    ]
    objs.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": None})
    usage = {
        "prompt_tokens": 61,
        "completion_tokens": 43,
        "total_tokens": 104,
        "prompt_tokens_details": {"cached_tokens": 3},
    }
    objs.append({**base, "choices": [], "usage": usage})
    return objs


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("dumps", SERIALIZERS)
def test_relay_realistic_stream_every_cut(eol: bytes, dumps: Callable[[Any], bytes]) -> None:
    stream = (
        b"".join(
            b"".join(b"data: " + line + eol for line in dumps(o).split(b"\n")) + eol for o in realistic_objs()
        )
        + b"data: [DONE]"
        + eol
        + eol
    )
    want_out, want_acct = ref_relay(stream, strip=True)
    chars = sum(len(w) for w in WORDS) * 5
    assert want_acct == Acct(True, 61, 43, 104, 3, chars, 53, "stop", None, "gpt-4o-mini-2024-07-18")
    assert want_out.count(b"data: ") == (52 if dumps is not dumps_indented else want_out.count(b"data: "))
    step = 1 if dumps is dumps_compact else 7
    for i in range(0, len(stream) + 1, step):
        assert relay_all([stream[:i], stream[i:]], strip=True) == (want_out, want_acct), i


def test_relay_error_event_is_recorded_and_forwarded() -> None:
    r = ChatStreamRelay()
    chunk = b'data: {"error": {"message": "overloaded", "type": "server_error", "code": 529}}\n\n'
    assert r.feed(chunk) is chunk
    assert r.error == b'{"message": "overloaded", "type": "server_error", "code": 529}'
    assert r.events == 1 and not r.done


def test_relay_initial_state() -> None:
    r = ChatStreamRelay()
    assert acct_of(r) == Acct()
    assert r.feed(b"") == b"" and r.finish() == b""
