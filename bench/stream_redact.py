#!/usr/bin/env python3
"""Micro-benchmark of response PII redaction on a streamed chat answer, µs per SSE event.

Answer: OpenAI ``chat.completion.chunk`` events shaped like ``bench/data/stream.sse`` (same fields):
a role event, 50 content events of ~10-token deltas (prose with an e-mail address, a phone number, a
quoted word and a newline among them), a finish_reason event and a usage event: 53 events. Fed two ways:
one network chunk per event (a token-by-token upstream) and the whole answer in one chunk (what the
bench mock sends). The HTTP bench's own ``stream.sse`` (50 one-token deltas, 51 events) is measured too
when found (``--data``).

Measured, per event (median of repeats, each a loop sized to about 20 ms):
  (a) old: the previous Python path, kept inline below: split the chunk, ``orjson.loads`` each event,
      ``StreamRedactor.push`` per choice, ``orjson.dumps`` the changed ones, per-chunk counts and blocked;
  (b) new: ``ChatChunkRedactor.feed`` with the per-chunk checks of ``brutor/guardrails/response.py``;
  (c) no redaction, for reference: the relay's own ``ChatStreamRelay.feed`` (the work a stream does
      anyway) and the bare Python loop.
Then the same filters as the pipeline runs them (async generators drained on an event loop): old, new
(``OutputGuard``), and no filter. Before timing, both paths are checked to give the same content as
whole-text redaction.

    python bench/stream_redact.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson

from brutor._native import ChatChunkRedactor, ChatStreamRelay, PiiScanner, StreamRedactor
from brutor.context import RequestContext
from brutor.guardrails.response import OutputGuard
from brutor.pipeline.reply import StreamReply

BENCH = Path(__file__).resolve().parent
SCANNER = PiiScanner()
ACTIONS = dict.fromkeys(SCANNER.kinds, "redact")
BASE = {
    "id": "chatcmpl-BkQ7yZ3mW9pLxT2vR8nC4dF6gH1jK",
    "object": "chat.completion.chunk",
    "created": 1761234567,
    "model": "gpt-4o-mini-2024-07-18",
    "service_tier": "default",
    "system_fingerprint": "fp_34a54ae93c",
}
PROSE = (
    "The capital of France is Paris, a city known for its museums, its cafés and the long walks along "
    "the Seine. If you want the full itinerary, write to jane.doe@example.com or call +44 20 7946 0958 "
    'before Friday; the "museum pass" covers most of the big collections.\nStart early at the Louvre, '
    "then cross to the Orsay for the impressionists, and keep the evening for Montmartre, where the view "
    "over the roofs is best at sunset. Book the Eiffel Tower online: the queues are long in summer, and "
    "the second floor is often enough. For food, the Marais has small places that stay open late, and "
    "the markets on Sunday morning are worth the detour. Take the metro rather than taxis; a carnet of "
    "ten tickets is cheaper, and most sights are within a few stops of each other. Enjoy the trip and "
    "the croissants."
)
DELTAS = 50
EVENTS = DELTAS + 3


def answer_events() -> list[bytes]:
    words = PROSE.split(" ")
    per = -(-len(words) // DELTAS)
    deltas = [" ".join(words[i : i + per]) + " " for i in range(0, len(words), per)]
    while len(deltas) < DELTAS:  # split the longest until there are 50
        i = max(range(len(deltas)), key=lambda k: len(deltas[k]))
        d = deltas[i]
        deltas[i : i + 1] = [d[: len(d) // 2], d[len(d) // 2 :]]

    def ev(choice: dict[str, Any], **extra: Any) -> bytes:
        doc = {**BASE, "choices": [choice] if choice else [], **extra}
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    null = {"logprobs": None, "finish_reason": None}
    events = [ev({"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, **null})]
    events += [ev({"index": 0, "delta": {"content": d}, **null}, usage=None) for d in deltas[:DELTAS]]
    events.append(ev({"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}, usage=None))
    usage = {"prompt_tokens": 20, "completion_tokens": 130, "total_tokens": 150}
    events.append(ev({}, usage=usage))
    assert len(events) == EVENTS
    return events


# --------------------------------------------------------------------------------- (a) the old path


class OldFilter:
    """The previous ``_StreamFilter`` of ``brutor/guardrails/response.py``, per chunk, without asyncio."""

    def __init__(self) -> None:
        self._redactors: dict[int, StreamRedactor] = {}
        self._last: dict[str, Any] | None = None
        self.counts: dict[str, int] = {}

    def _redactor(self, index: int) -> StreamRedactor:
        r = self._redactors.get(index)
        if r is None:
            r = self._redactors[index] = SCANNER.stream(ACTIONS)
        return r

    def feed(self, chunk: bytes, complete: bool) -> bytes:
        events = self._chunk(chunk)
        self._report()
        stopped = {k for r in self._redactors.values() for k in r.blocked}
        if stopped:
            return b""
        if complete:
            rest = self._flush_rest()
            if rest:
                last = max((i for i, (_, has) in enumerate(events) if has), default=len(events) - 1)
                events.insert(last + 1, (rest, True))
        return b"".join(e for e, _ in events)

    def _chunk(self, chunk: bytes) -> list[tuple[bytes, bool]]:
        out: list[tuple[bytes, bool]] = []
        for event in chunk.split(b"\n\n"):
            if not event:
                continue
            if not event.startswith(b"data: ") or event == b"data: [DONE]":
                out.append((event + b"\n\n", False))
                continue
            try:
                doc = orjson.loads(event[6:])
            except orjson.JSONDecodeError:
                out.append((event + b"\n\n", False))
                continue
            has = bool(doc.get("choices")) if isinstance(doc, dict) else False
            if self._event(doc):
                out.append((b"data: " + orjson.dumps(doc) + b"\n\n", has))
            else:
                out.append((event + b"\n\n", has))
        return out

    def _event(self, doc: Any) -> bool:
        choices = doc.get("choices") if isinstance(doc, dict) else None
        if not isinstance(choices, list):
            return False
        self._last = doc
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            index = choice.get("index", 0)
            text = delta.get("content") if isinstance(delta, dict) else None
            finishing = choice.get("finish_reason") is not None
            if not isinstance(text, str) and not finishing:
                continue
            redactor = self._redactor(index if isinstance(index, int) else 0)
            emitted = redactor.push(text) if isinstance(text, str) else ""
            if finishing:
                emitted += redactor.finish()
            if emitted != (text or "") and isinstance(delta, dict):
                delta["content"] = emitted
                changed = True
            elif emitted and not isinstance(delta, dict):
                choice["delta"] = {"content": emitted}
                changed = True
        return changed

    def _flush_rest(self) -> bytes:
        rest = [(i, r.finish()) for i, r in self._redactors.items() if r.held]
        rest = [(i, t) for i, t in rest if t]
        if not rest or self._last is None:
            return b""
        base = {k: v for k, v in self._last.items() if k in ("id", "object", "created", "model")}
        doc = {
            **base,
            "choices": [{"index": i, "delta": {"content": t}, "finish_reason": None} for i, t in rest],
        }
        return b"data: " + orjson.dumps(doc) + b"\n\n"

    def _report(self) -> None:
        counts: dict[str, int] = {}
        for r in self._redactors.values():
            for kind, n in r.counts.items():
                counts[kind] = counts.get(kind, 0) + n
        self.counts = counts


# ---------------------------------------------------------------------------------------- (b), (c)


def run_old(chunks: list[bytes]) -> bytes:
    f = OldFilter()
    last = len(chunks) - 1
    return b"".join([f.feed(c, i == last) for i, c in enumerate(chunks)])


def run_new(chunks: list[bytes]) -> bytes:
    """The per-chunk work of ``_StreamFilter.run`` (without the async generator)."""
    r = ChatChunkRedactor(SCANNER, ACTIONS)
    seen = 0
    out = []
    last = len(chunks) - 1
    for i, c in enumerate(chunks):
        o = r.feed(c, i == last)
        if r.entities != seen:
            seen = r.entities
            _ = r.counts
            if r.is_blocked:
                break
        out.append(o)
    return b"".join(out)


def run_feed_only(chunks: list[bytes]) -> bytes:
    r = ChatChunkRedactor(SCANNER, ACTIONS)
    last = len(chunks) - 1
    return b"".join([r.feed(c, i == last) for i, c in enumerate(chunks)])


def run_relay(chunks: list[bytes]) -> bytes:
    r = ChatStreamRelay()
    return b"".join([r.feed(c) for c in chunks])


def run_loop(chunks: list[bytes]) -> bytes:
    return b"".join([c for c in chunks])


# ------------------------------------------------------------------------------ the pipeline's way


async def _source(reply: StreamReply, chunks: list[bytes]) -> AsyncIterator[bytes]:
    for i, c in enumerate(chunks):
        if i == len(chunks) - 1:
            reply.complete = True
        yield c


async def _aclose() -> None:
    return None


class _OldAsyncFilter:
    """The previous ``_StreamFilter.run``: the old per-chunk work inside an async generator."""

    def __init__(self, reply: StreamReply) -> None:
        self._reply = reply
        self._inner = reply.chunks
        self._f = OldFilter()

    async def run(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            out = self._f.feed(bytes(chunk), self._reply.complete)
            if out:
                yield out


def pipeline(kind: str) -> Callable[[list[bytes]], bytes]:
    async def drain(chunks: list[bytes]) -> bytes:
        reply = StreamReply(200, [], None, _aclose)  # type: ignore[arg-type]
        reply.chunks = _source(reply, chunks)
        ctx = RequestContext("r", {})
        if kind == "new":
            OutputGuard(SCANNER, ACTIONS).apply(ctx, reply)
        elif kind == "old":
            reply.chunks = _OldAsyncFilter(reply).run()
        return b"".join([c async for c in reply.chunks])

    def run(chunks: list[bytes]) -> bytes:
        return LOOP.run_until_complete(drain(chunks))

    return run


LOOP = asyncio.new_event_loop()


# ----------------------------------------------------------------------------------------- timing


def per_event_us(fn: Callable[[list[bytes]], bytes], chunks: list[bytes], repeats: int) -> float:
    events = b"".join(chunks).count(b"\n\n")
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn(chunks)
        if time.perf_counter() - t > 0.02:
            break
        n *= 2
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn(chunks)
        times.append((time.perf_counter() - t) / n)
    return statistics.median(times) / events * 1e6


def content(stream: bytes) -> str:
    text = []
    for ev in stream.split(b"\n\n"):
        if ev.startswith(b"data: {"):
            for c in orjson.loads(ev[6:]).get("choices", []):
                text.append((c.get("delta") or {}).get("content") or "")
    return "".join(text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="3 repeats instead of 9")
    p.add_argument(
        "--data",
        type=Path,
        default=BENCH.parent.parent / "shared" / "peerbench" / "stream.sse",
        help="the HTTP bench's stream body (50 one-token deltas), also measured when present",
    )
    args = p.parse_args()
    repeats = 3 if args.quick else 9

    events = answer_events()
    chunkings = {"1 event per chunk": events, "whole answer in 1 chunk": [b"".join(events)]}
    want = SCANNER.redact(content(b"".join(events)), ACTIONS)
    assert want.counts == {"EMAIL": 1, "PHONE": 1}, want.counts
    if args.data.is_file():
        raw = args.data.read_bytes().replace(b"data: [DONE]\n\n", b"")
        chunkings["stream.sse (1 chunk)"] = [raw]
    for chunks in chunkings.values():
        whole = SCANNER.redact(content(b"".join(chunks)), ACTIONS).text
        for fn in (run_old, run_new, pipeline("old"), pipeline("new")):
            assert content(fn(chunks)) == whole, fn
        assert run_feed_only(chunks) == run_new(chunks)

    rows: list[tuple[str, Callable[[list[bytes]], bytes]]] = [
        ("(a) old: orjson + StreamRedactor.push + dumps", run_old),
        ("(b) new: ChatChunkRedactor.feed + checks", run_new),
        ("(b) new: ChatChunkRedactor.feed alone", run_feed_only),
        ("(c) no redaction: ChatStreamRelay.feed", run_relay),
        ("(c) no redaction: Python loop only", run_loop),
        ("pipeline filter, old (async generator)", pipeline("old")),
        ("pipeline filter, new (OutputGuard)", pipeline("new")),
        ("pipeline, no filter (async generator)", pipeline("none")),
    ]
    results: dict[str, dict[str, float]] = {}
    for name, chunks in chunkings.items():
        results[name] = {label: per_event_us(fn, chunks, repeats) for label, fn in rows}

    names = list(chunkings)
    print(
        f"µs per event ({EVENTS}-event answer, {DELTAS} content deltas of ~10 tokens, 2 entities), median of {repeats}"
    )
    print(f"| path | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")
    for label, _ in rows:
        print(f"| {label} | {' | '.join(f'{results[n][label]:.3f}' for n in names)} |")
    for n in names:
        r = results[n]
        old = r["(a) old: orjson + StreamRedactor.push + dumps"]
        new = r["(b) new: ChatChunkRedactor.feed + checks"]
        pold = r["pipeline filter, old (async generator)"] - r["pipeline, no filter (async generator)"]
        pnew = r["pipeline filter, new (OutputGuard)"] - r["pipeline, no filter (async generator)"]
        k = b"".join(chunkings[n]).count(b"\n\n")
        print(
            f"{n}: old/new {old / new:.1f}x ({old:.3f} -> {new:.3f} µs/event); "
            f"added by the filter in the pipeline {pold:.3f} -> {pnew:.3f} µs/event "
            f"({pold * k:.1f} -> {pnew * k:.1f} µs per answer of {k} events)"
        )


if __name__ == "__main__":
    main()
