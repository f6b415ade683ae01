#!/usr/bin/env python3
"""Micro-benchmark of Brutor's native SSE code on the 15 KB peerbench stream (50 chunks + [DONE]).

Measures, per whole stream (a fresh object each time, so construction is included):
  - brutor._native.SseDecoder().feed(chunk)        (decode into events)
  - brutor._native.ChatStreamRelay().feed(chunk)   (relay bytes + accounting, as the gateway does)
  - baseline in the same run: a pure-Python split of the same bytes into events with bytes.split(b"\\n\\n")
    (with a carry-over buffer when the input is chunked)
for three chunkings: the whole body in one feed, 1,024-byte network-like chunks, and one feed per event.
Target (shared/design/PERFORMANCE.md): SSE decode >= 500 MB/s.

    python bench/sse_decode.py [--seconds 1.0] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def load_stream(explicit: str | None) -> bytes:
    dirs = [Path(explicit)] if explicit else [BENCH / "data", BENCH.parent.parent / "shared" / "peerbench"]
    for d in dirs:
        if (d / "stream.sse").is_file():
            return (d / "stream.sse").read_bytes()
    sys.exit(f"stream.sse not found in {', '.join(map(str, dirs))}")


def chunkings(raw: bytes) -> dict[str, list[bytes]]:
    events = [e + b"\n\n" for e in raw.split(b"\n\n") if e]
    assert b"".join(events) == raw, "stream.sse must be \\n\\n-terminated events"
    return {
        "whole (1 feed)": [raw],
        "1 KiB chunks": [raw[i : i + 1024] for i in range(0, len(raw), 1024)],
        "1 feed per event": events,
    }


def python_split(chunks: list[bytes]) -> int:
    buf = b""
    n = 0
    for chunk in chunks:
        buf += chunk
        parts = buf.split(b"\n\n")
        buf = parts.pop()
        n += len(parts)
    return n


def _make(cls: Any) -> Any:
    try:
        return cls(strip_usage_chunk=False)
    except TypeError:
        return cls()


def native_runner(cls: Any, *, relay: bool) -> Callable[[list[bytes]], Any]:
    def run(chunks: list[bytes]) -> Any:
        obj = _make(cls)
        out: list[Any] = []
        for chunk in chunks:
            r = obj.feed(chunk)
            if r:
                out.append(r)
        fin = getattr(obj, "finish", None)
        if fin is not None:
            tail = fin()
            if tail:
                out.append(tail)
        return out

    run.__name__ = "ChatStreamRelay" if relay else "SseDecoder"
    return run


def bench(fn: Callable[[list[bytes]], Any], chunks: list[bytes], seconds: float) -> float:
    """Best-of-5 seconds per call."""
    n = 1
    while True:  # calibrate so one sample lasts ~seconds/5
        t0 = time.perf_counter()
        for _ in range(n):
            fn(chunks)
        dt = time.perf_counter() - t0
        if dt >= seconds / 5 / 4:
            break
        n *= 4
    n = max(1, int(n * (seconds / 5) / dt))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn(chunks)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def check(name: str, fn: Callable[[list[bytes]], Any], raw: bytes, chunks: list[bytes]) -> str:
    out = fn(chunks)
    if name == "python split":
        return f"{out} events"
    if name == "SseDecoder":
        events = [e for batch in out for e in (batch if isinstance(batch, list | tuple) else [batch])]
        return f"{len(events)} events"
    body = b"".join(bytes(x) for x in out)
    if body == raw:
        return "output == input"
    # the relay drops the upstream's `data: [DONE]` event (the gateway writes its own terminator)
    done = b"data: [DONE]\n\n"
    if raw.endswith(done) and body == raw[: -len(done)]:
        return "output == input minus [DONE]"
    return f"output {len(body)} B differs from input {len(raw)} B"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement")
    ap.add_argument("--data", default=None)
    a = ap.parse_args()
    raw = load_stream(a.data)
    sys.path.append(str(BENCH.parent))  # an installed brutor wins; else the repo's (needs the built .so)
    runners: list[tuple[str, Callable[[list[bytes]], Any]]] = [("python split", python_split)]
    try:
        from brutor import _native
    except ImportError as exc:
        print(f"brutor._native not importable ({exc}); build it (maturin develop --release). Baseline only.")
    else:
        for cls_name, relay in (("SseDecoder", False), ("ChatStreamRelay", True)):
            cls = getattr(_native, cls_name, None)
            if cls is None:
                print(f"brutor._native has no {cls_name}; skipped")
            else:
                runners.append((cls_name, native_runner(cls, relay=relay)))
    print(f"stream.sse: {len(raw):,} bytes, {raw.count(b'data:')} data events\n")
    print("| code | chunking | µs / stream | MB/s | vs python split | check |")
    print("|---|---|---|---|---|---|")
    for label, chunks in chunkings(raw).items():
        base = None
        for name, fn in runners:
            try:
                note = check(name, fn, raw, chunks)
                sec = bench(fn, chunks, a.seconds)
            except Exception as exc:  # report and keep going: a micro-benchmark, not a test
                print(f"| {name} | {label} | error: {type(exc).__name__}: {exc} | | | |")
                continue
            base = base or sec
            mbs = len(raw) / sec / 1e6
            print(f"| {name} | {label} | {sec * 1e6:,.2f} | {mbs:,.0f} | {base / sec:.2f}x | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
