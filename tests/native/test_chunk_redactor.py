"""Tests of the native ``ChatChunkRedactor`` (PII redaction of a chat-completion SSE stream in place).

The oracle parses every event with ``json.loads``: per choice, the content of the output equals
``PiiScanner.redact`` of the input's text (each ``finish_reason`` ends one text), and every output event
equals its input event but for ``delta.content``. Streams mix serializers (orjson, ``json.dumps`` with
and without ``ensure_ascii``, spaced separators, shuffled keys), escapes, several choices, comments and
LF/CRLF/CR line endings, fed in random splits and input types.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brutor._native import ChatChunkRedactor, PiiScanner, SseError

SCANNER = PiiScanner([("EMPLOYEE_ID", r"\bEMP-\d{6}\b")], ["darkstar"])
NATIVE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)

FRAGMENTS = [
    "jane.doe@example.com",
    "jane",
    ".doe@",
    "example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "10.0.0.12",
    "EMP-123456",
    "darkstar",
    ' "quoted" ',
    "back\\slash\\",
    "\n",
    "\t\r",
    "\x01\x1f",
    "😀",
    "é中",
    "\u2028",
    " ",
    ", ",
    ". ",
    "word",
]

Dumps = Callable[[Any], bytes]
DUMPS: list[Dumps] = [
    orjson.dumps,
    lambda d: json.dumps(d, ensure_ascii=True).encode(),
    lambda d: json.dumps(d, ensure_ascii=False).encode(),
    lambda d: json.dumps(d, separators=(" , ", " : ")).encode(),
]


def data_events(stream: bytes) -> list[bytes | None]:
    """The data of each event of ``stream`` (``None`` for an event without data)."""
    text = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    out: list[bytes | None] = []
    for block in text.split(b"\n\n")[:-1]:
        lines = [ln[5:].removeprefix(b" ") for ln in block.split(b"\n") if ln.startswith(b"data:")]
        out.append(b"\n".join(lines) if lines else None)
    return out


def without_content(doc: Any) -> Any:
    doc = json.loads(json.dumps(doc))
    for choice in doc.get("choices") or []:
        delta = choice.get("delta")
        if isinstance(delta, dict):
            delta.pop("content", None)
            if not delta:
                choice.pop("delta")
        elif delta is None:
            choice.pop("delta", None)
    return doc


def texts_per_choice(docs: list[Any], split_on_finish: bool) -> dict[int, list[str]]:
    per: dict[int, list[str]] = {}
    for doc in docs:
        for choice in doc.get("choices") or []:
            texts = per.setdefault(choice.get("index", 0), [""])
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                texts[-1] += content
            if split_on_finish and choice.get("finish_reason") is not None:
                texts.append("")
    return per


def feed_all(r: ChatChunkRedactor, chunks: list[bytes]) -> bytes:
    out = b""
    for i, c in enumerate(chunks):
        out += r.feed(c, i == len(chunks) - 1)
    return out


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Any], bytes]:
    """Chunk objects and their SSE bytes."""
    docs: list[Any] = []
    raw = b""
    n_choices = draw(st.integers(1, 2))
    for _ in range(draw(st.integers(1, 12))):
        choices = []
        for index in draw(st.permutations(range(n_choices))):
            choice: dict[str, Any] = {"index": index}
            kind = draw(st.sampled_from(["text", "text", "text", "null", "empty", "none"]))
            if kind == "text":
                pieces = draw(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=4))
                choice["delta"] = {"content": "".join(pieces)}
            elif kind == "null":
                choice["delta"] = {"content": None, "role": "assistant"}
            elif kind == "empty":
                choice["delta"] = {}
            choice["finish_reason"] = draw(st.sampled_from([None, None, None, "stop"]))
            if draw(st.booleans()):
                choice = dict(draw(st.permutations(list(choice.items()))))
            choices.append(choice)
        doc = {"id": "c9", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices}
        docs.append(doc)
        eol = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
        if draw(st.integers(0, 5)) == 0:
            raw += b": ping" + eol + eol
        raw += b"data: " + draw(st.sampled_from(DUMPS))(doc) + eol + eol
    return docs, raw


@NATIVE
@given(streams(), st.data())
def test_any_stream_in_any_split_is_redacted_like_its_whole_texts(
    stream: tuple[list[Any], bytes], data: st.DataObject
) -> None:
    docs, raw = stream
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    r = ChatChunkRedactor(SCANNER)
    out = feed_all(r, chunks)

    got_docs = [json.loads(d) for d in data_events(out) if d is not None]
    # An extra event at the end carries tails of choices that did not finish.
    assert len(got_docs) in (len(docs), len(docs) + 1)
    for want, got in zip(docs, got_docs, strict=False):
        assert without_content(got) == without_content(want)
    if len(got_docs) > len(docs):
        extra = got_docs[-1]
        assert {k: extra[k] for k in ("id", "object", "created", "model")} == {
            "id": "c9",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
        }
        assert all(c["finish_reason"] is None for c in extra["choices"])

    want_texts = texts_per_choice(docs, split_on_finish=True)
    got_texts = texts_per_choice(got_docs, split_on_finish=False)
    counts: dict[str, int] = {}
    for index, texts in want_texts.items():
        redacted = [SCANNER.redact(t) for t in texts]
        assert got_texts.get(index, [""])[0] == "".join(x.text for x in redacted)
        for x in redacted:
            for k, n in x.counts.items():
                counts[k] = counts.get(k, 0) + n
    assert r.counts == counts
    assert r.entities == sum(counts.values())
    assert r.held == 0 and r.buffered == 0


@NATIVE
@given(streams())
def test_other_buffers_give_the_same_output_as_bytes(stream: tuple[list[Any], bytes]) -> None:
    _, raw = stream
    want = ChatChunkRedactor(SCANNER).feed(raw, True)
    assert ChatChunkRedactor(SCANNER).feed(bytearray(raw), True) == want
    assert ChatChunkRedactor(SCANNER).feed(memoryview(raw), True) == want


def test_plain_text_events_are_not_copied() -> None:
    r = ChatChunkRedactor(SCANNER)
    e = b'data: {"choices":[{"index":0,"delta":{"content":"Hello there, "}}]}\n\n'
    assert r.feed(e) is e
    for other in [b": ping\n\n", b"data: [DONE]\n\n", b'data: {"error":{"message":"x@y.io"}}\n\n', b""]:
        assert r.feed(other) is other


def test_escaped_content_is_unescaped_redacted_and_escaped_back() -> None:
    r = ChatChunkRedactor(SCANNER)
    e = b'data: {"choices":[{"index":0,"delta":{"content":"\\"jane.doe@example.com\\"\\n\\u00e9\\ud83d\\ude00 ok"},"finish_reason":"stop"}]}\n\n'
    out = r.feed(e)
    assert (
        out
        == 'data: {"choices":[{"index":0,"delta":{"content":"\\"[EMAIL]\\"\\né😀 ok"},"finish_reason":"stop"}]}\n\n'.encode()
    )


def test_finish_flushes_tails_and_block_withholds() -> None:
    r = ChatChunkRedactor(SCANNER)
    r.feed(b'data: {"id":"a","model":"m","choices":[{"index":2,"delta":{"content":"to 10.0.0.12"}}]}\n\n')
    assert r.held > 0
    tail = r.finish()
    assert orjson.loads(tail[6:]) == {
        "id": "a",
        "model": "m",
        "choices": [{"index": 2, "delta": {"content": "[IP_ADDRESS]"}, "finish_reason": None}],
    }
    assert r.counts == {"IP_ADDRESS": 1} and r.finish() == b""

    actions = {"EMAIL": "block", "IP_ADDRESS": "mask"}
    r = ChatChunkRedactor(SCANNER, actions)
    ok = b'data: {"choices":[{"index":0,"delta":{"content":"a 10.0.0.12 b "}}]}\n\n'
    bad = b'data: {"choices":[{"index":0,"delta":{"content":"c jane.doe@example.com d"}}]}\n\n'
    masked = SCANNER.redact("a 10.0.0.12 b ", actions).text
    assert masked != "a 10.0.0.12 b "
    assert r.feed(ok + bad + ok) == ok.replace(b"a 10.0.0.12 b ", masked.encode())
    assert r.is_blocked and r.blocked == ["EMAIL"]
    assert r.counts == {"EMAIL": 1, "IP_ADDRESS": 1}
    assert r.feed(ok, True) == b"" and r.finish() == b""


def test_errors() -> None:
    r = ChatChunkRedactor(SCANNER, max_event_bytes=100)
    assert r.feed(b"data: " + b"x" * 90) == b""
    assert r.buffered == 96
    with pytest.raises(SseError):
        r.feed(b"x" * 10)
    assert r.feed(b"data: {}\n\n") == b""
    with pytest.raises(ValueError, match="unknown PII action"):
        ChatChunkRedactor(SCANNER, {"EMAIL": "shred"})
    with pytest.raises(TypeError):
        ChatChunkRedactor(SCANNER).feed("text")  # type: ignore[arg-type]


def test_random_bytes_never_fail() -> None:
    rng = random.Random(7)
    alphabet = b'{}[]":,\\ \n\rdata: choices delta content index finish_reason null 0 1 u00e9 jane@x.io'
    for _ in range(2000):
        r = ChatChunkRedactor(SCANNER)
        for i in range(3):
            chunk = bytes(rng.choice(alphabet) for _ in range(rng.randrange(80)))
            assert isinstance(r.feed(chunk, i == 2), bytes)
