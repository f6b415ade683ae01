"""Cost of translating a Vertex stream, per upstream event (decode + translate + frame, one pass per
network chunk). Correctness is checked before timing. Run with ``-s`` to see the numbers."""

from __future__ import annotations

import json
import time

from brutor._native import SseDecoder
from brutor.providers.vertex_response import StreamTranslator

EVENTS = 3000


def _event(i: int, last: bool) -> bytes:
    candidate: dict[str, object] = {"content": {"role": "model", "parts": [{"text": f" token{i} and more"}]}}
    usage: dict[str, object] = {"trafficType": "ON_DEMAND"}
    if last:
        candidate["finishReason"] = "STOP"
        usage = {
            "promptTokenCount": 12,
            "candidatesTokenCount": EVENTS * 3,
            "totalTokenCount": 12 + EVENTS * 3,
        }
    event = {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "createTime": "2025-06-01T10:20:30.456789Z",
        "responseId": "benchResp01",
    }
    return b"data: " + json.dumps(event).encode() + b"\r\n\r\n"


def _run(chunks: list[bytes]) -> tuple[float, bytes]:
    translator, decoder = StreamTranslator("gemini-2.5-flash", include_usage=True), SseDecoder()
    start = time.perf_counter()
    out = [translator.feed(decoder.feed(c)) for c in chunks]
    out.append(translator.usage_frame())
    elapsed = time.perf_counter() - start
    assert translator.done and translator.events == EVENTS
    return elapsed, b"".join(out)


def test_microseconds_per_event() -> None:
    events = [_event(i, i == EVENTS - 1) for i in range(EVENTS)]
    per_chunk = events  # one event per network chunk: the usual shape of a live stream
    batched = [b"".join(events[i : i + 10]) for i in range(0, EVENTS, 10)]
    _, reference = _run(per_chunk)
    frames = [json.loads(b[6:]) for b in reference.split(b"\n\n") if b]
    assert len(frames) == EVENTS + 1 and frames[-1]["usage"]["completion_tokens"] == EVENTS * 3
    assert "".join(f["choices"][0]["delta"]["content"] for f in frames[:-1]).startswith(
        " token0 and more token1"
    )
    best_single = min(_run(per_chunk)[0] for _ in range(5)) / EVENTS * 1e6
    best_batched = min(_run(batched)[0] for _ in range(5)) / EVENTS * 1e6
    print(
        f"\nvertex stream translation: {best_single:.2f} us/event (1 event/chunk), {best_batched:.2f} us/event (10/chunk)"
    )
    # A loose ceiling (a slow CI box): an order of magnitude above what is measured on a laptop.
    assert best_single < 100 and best_batched < 100
