#!/usr/bin/env python3
"""Micro-benchmark of the native stream translation (Anthropic SSE and Bedrock event stream → OpenAI
chunks) against relaying the equivalent OpenAI stream with ChatStreamRelay, in the same run.

The three streams carry the same answer: a role event, ``--deltas`` text deltas of ~10 tokens, the stop
reason and usage (Anthropic: message_start, content_block_start, a ping, deltas, content_block_stop,
message_delta, message_stop; Bedrock: messageStart, deltas, contentBlockStop, messageStop, metadata,
with Bedrock's "p" padding; OpenAI: the chunks the translators write, plus ``data: [DONE]``). Each is fed
one upstream event per call (the worst case: one network chunk per event), in 1 KiB chunks, and whole.
A fresh translator per stream (construction included); best of 5 samples. Before timing, the native
output is checked against a plain-Python translation of the same stream (orjson per event, also timed,
to show what the native code saves).

    python bench/translate.py [--quick] [--seconds 1.0] [--deltas 50]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the repository's brutor (needs the built extension)

from brutor._native import (  # noqa: E402
    AnthropicStreamTranslator,
    BedrockStreamTranslator,
    ChatStreamRelay,
)

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "it", "rains"]
CREATED = 1700000000


# ------------------------------------------------------------------------------------- the streams


def pieces(n: int) -> list[str]:
    return [" " + " ".join(WORDS[(i + j) % len(WORDS)] for j in range(8)) + "." for i in range(n)]


def anthropic_stream(texts: list[str]) -> list[bytes]:
    def ev(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    usage = {
        "input_tokens": 42,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    start = {"id": "msg_bench", "type": "message", "role": "assistant", "content": [], "model": "claude-x"}
    events = [
        ev(
            "message_start",
            {"type": "message_start", "message": {**start, "stop_reason": None, "usage": usage}},
        ),
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ev("ping", {"type": "ping"}),
    ]
    for t in texts:
        delta = {"type": "text_delta", "text": t}
        events.append(ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events += [
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 500}},
        ),
        ev("message_stop", {"type": "message_stop"}),
    ]
    return events


def frame(kind: str, payload: dict[str, Any]) -> bytes:
    body = json.dumps(
        {**payload, "p": "abcdefghijklmnopqrstuvwxyz"[: 4 + len(kind)]}, separators=(",", ":")
    ).encode()
    headers = b"".join(
        bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
        for k, v in ((":event-type", kind), (":content-type", "application/json"), (":message-type", "event"))
    )
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def bedrock_stream(texts: list[str]) -> list[bytes]:
    events = [frame("messageStart", {"role": "assistant"})]
    events += [frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": t}}) for t in texts]
    usage = {"inputTokens": 42, "outputTokens": 500, "totalTokens": 542}
    events += [
        frame("contentBlockStop", {"contentBlockIndex": 0}),
        frame("messageStop", {"stopReason": "end_turn"}),
        frame("metadata", {"usage": usage, "metrics": {"latencyMs": 100}}),
    ]
    return events


def openai_stream(texts: list[str]) -> list[bytes]:
    t = AnthropicStreamTranslator("msg_bench", "claude", CREATED, include_usage=True)
    out = b"".join(t.feed(e) for e in anthropic_stream(texts))
    return [e + b"\n\n" for e in out.split(b"\n\n") if e] + [b"data: [DONE]\n\n"]


def chunkings(events: list[bytes]) -> dict[str, list[bytes]]:
    raw = b"".join(events)
    return {
        "1 event per chunk": events,
        "1 KiB chunks": [raw[i : i + 1024] for i in range(0, len(raw), 1024)],
        "whole (1 chunk)": [raw],
    }


# ------------------------------------------------------------------------------------- the runners


def native(make: Callable[[], Any]) -> Callable[[list[bytes]], bytes]:
    def run(chunks: list[bytes]) -> bytes:
        t = make()
        out = [t.feed(c) for c in chunks]
        out.append(t.finish())
        return b"".join(out)

    return run


class PyAnthropic:
    """A plain-Python translator (orjson per event) for comparison; text deltas and usage only."""

    def __init__(self) -> None:
        self.buf = b""
        self.base: dict[str, Any] = {}
        self.usage: dict[str, int] = {}

    def chunk(self, choices: list[Any], **extra: Any) -> bytes:
        return b"data: " + orjson.dumps({**self.base, "choices": choices, **extra}) + b"\n\n"

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self.chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        *events, self.buf = self.buf.split(b"\n\n")
        out = []
        for e in events:
            d = orjson.loads(e.split(b"data: ", 1)[1])
            kind = d["type"]
            if kind == "message_start":
                m = d["message"]
                self.base = {
                    "id": m["id"],
                    "object": "chat.completion.chunk",
                    "created": CREATED,
                    "model": "claude",
                }
                self.usage = m["usage"]
                out.append(self.delta({"role": "assistant", "content": ""}))
            elif kind == "content_block_delta" and d["delta"]["type"] == "text_delta":
                out.append(self.delta({"content": d["delta"]["text"]}))
            elif kind == "message_delta":
                self.usage = {**self.usage, **d["usage"]}
                out.append(self.delta({}, "stop"))
            elif kind == "message_stop":
                p = self.usage["input_tokens"] + self.usage.get("cache_read_input_tokens", 0)
                c = self.usage["output_tokens"]
                usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
                out.append(self.chunk([], usage={**usage, "prompt_tokens_details": {"cached_tokens": 0}}))
        return b"".join(out)

    def finish(self) -> bytes:
        return b""


class PyBedrock(PyAnthropic):
    """The same for Bedrock: event-stream frames parsed with struct/zlib, payloads with orjson."""

    def __init__(self) -> None:
        super().__init__()
        self.base = {
            "id": "msg_bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": "claude",
        }
        self.raw = b""

    def feed(self, data: bytes) -> bytes:
        self.raw += data
        out = []
        while len(self.raw) >= 12:
            total, hlen = struct.unpack_from(">II", self.raw)
            if len(self.raw) < total:
                break
            msg, self.raw = self.raw[:total], self.raw[total:]
            if (
                zlib.crc32(msg[:8]) != struct.unpack_from(">I", msg, 8)[0]
                or zlib.crc32(msg[:-4]) != struct.unpack_from(">I", msg, total - 4)[0]
            ):
                raise ValueError("crc")
            headers, i = {}, 12
            while i < 12 + hlen:
                n = msg[i]
                name = msg[i + 1 : i + 1 + n].decode()
                (vlen,) = struct.unpack_from(">H", msg, i + 2 + n)
                headers[name] = msg[i + 4 + n : i + 4 + n + vlen].decode()
                i += 4 + n + vlen
            d = orjson.loads(msg[12 + hlen : -4])
            kind = headers[":event-type"]
            if kind == "messageStart":
                out.append(self.delta({"role": "assistant", "content": ""}))
            elif kind == "contentBlockDelta" and "text" in d["delta"]:
                out.append(self.delta({"content": d["delta"]["text"]}))
            elif kind == "messageStop":
                out.append(self.delta({}, "stop"))
            elif kind == "metadata":
                u = d["usage"]
                usage = {"prompt_tokens": u["inputTokens"], "completion_tokens": u["outputTokens"]}
                usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
                out.append(self.chunk([], usage={**usage, "prompt_tokens_details": {"cached_tokens": 0}}))
        return b"".join(out)


def bench(fn: Callable[[list[bytes]], Any], chunks: list[bytes], seconds: float) -> float:
    """Best-of-5 seconds per call."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(chunks)
        dt = time.perf_counter() - t0
        if dt >= seconds / 20:
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


def parsed(out: bytes) -> list[Any]:
    return [orjson.loads(e.removeprefix(b"data: ")) for e in out.split(b"\n\n") if e]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time budget per measurement")
    ap.add_argument("--deltas", type=int, default=50, help="text deltas per answer")
    ap.add_argument("--quick", action="store_true", help="0.15 s per measurement")
    a = ap.parse_args()
    seconds = 0.15 if a.quick else a.seconds
    texts = pieces(a.deltas)
    streams = {
        "Anthropic → OpenAI (AnthropicStreamTranslator)": (
            anthropic_stream(texts),
            native(lambda: AnthropicStreamTranslator("x", "claude", CREATED, include_usage=True)),
            native(PyAnthropic),
        ),
        "Bedrock → OpenAI (BedrockStreamTranslator)": (
            bedrock_stream(texts),
            native(lambda: BedrockStreamTranslator("msg_bench", "claude", CREATED, include_usage=True)),
            native(PyBedrock),
        ),
        "OpenAI relay (ChatStreamRelay, baseline)": (
            openai_stream(texts),
            native(lambda: ChatStreamRelay(strip_usage_chunk=False)),
            None,
        ),
    }
    expected = parsed(b"".join(openai_stream(texts)[:-1]))
    print(f"{a.deltas} text deltas per answer; {seconds:g} s per measurement; best of 5\n")
    print("| stream | chunking | code | events | bytes in | µs / answer | µs / event | MB/s in | check |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (events, fn, py) in streams.items():
        for label, chunks in chunkings(events).items():
            size = sum(map(len, chunks))
            for code, runner in (("native", fn), ("python", py)):
                if runner is None:
                    continue
                out = parsed(runner(chunks))
                ok = out == expected or [c for c in out if c.get("choices") != []] == expected[:-1]
                if code == "native" and not ok:
                    print(f"| {name} | {label} | {code} | output differs from the expected chunks |")
                    return 1
                sec = bench(runner, chunks, seconds)
                print(
                    f"| {name} | {label} | {code} | {len(events)} | {size:,} | {sec * 1e6:.1f} "
                    f"| {sec * 1e6 / len(events):.3f} | {size / sec / 1e6:.0f} | {'ok' if ok else 'differs'} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
