"""The cache's store path in process: streams rebuilt into the answer to store, the invalidation journal
shared by workers, journalled and timed drops of the embedded store, and the stage's purge."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from cache_support import FakeClock, unit

from brutor.cache.config import CacheConfig
from brutor.cache.entries import Entry, MemoryEntries
from brutor.cache.index import MemoryIndex
from brutor.cache.journal import Invalidation, Journal
from brutor.cache.stage import CacheStage
from brutor.cache.stream_answer import completion_from_stream
from brutor.context import Usage

USAGE = Usage(prompt_tokens=11, completion_tokens=4)


def chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0, **extra: Any) -> bytes:
    doc = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-x",
        "system_fingerprint": "fp_1",
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish, **extra}],
    }
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def text_stream() -> list[bytes]:
    return [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello, "}),
        chunk({"content": "wörld"}),
        chunk({}, "stop"),
    ]


def test_a_text_stream_becomes_the_completion_it_streamed() -> None:
    body = completion_from_stream(text_stream(), USAGE, 1 << 20)
    assert body is not None
    doc = orjson.loads(body)
    assert doc["object"] == "chat.completion" and doc["id"] == "chatcmpl-1" and doc["model"] == "gpt-x"
    assert doc["system_fingerprint"] == "fp_1"
    assert doc["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello, wörld", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert doc["usage"] == {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


def test_any_split_of_the_bytes_gives_the_same_answer() -> None:
    whole = b"".join(text_stream()).replace(b"\n\n", b"\r\n\r\n")
    expected = completion_from_stream([whole], USAGE, 1 << 20)
    assert expected is not None
    for size in (1, 2, 7, 64):
        pieces = [whole[i : i + size] for i in range(0, len(whole), size)]
        assert completion_from_stream(pieces, USAGE, 1 << 20) == expected


def test_choices_are_kept_apart_and_ordered() -> None:
    chunks = [
        chunk({"content": "b"}, index=1),
        chunk({"content": "a"}),
        chunk({}, "stop"),
        chunk({}, "length", 1),
    ]
    doc = orjson.loads(completion_from_stream(chunks, USAGE, 1 << 20) or b"null")
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in doc["choices"]] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param([chunk({"content": "x"})], id="no-finish-reason"),
        pytest.param([chunk({"tool_calls": [{"index": 0, "id": "t"}]}, "tool_calls")], id="tool-calls"),
        pytest.param([chunk({"refusal": "no"}, "stop")], id="refusal"),
        pytest.param([chunk({"content": "x"}, "stop", logprobs={"content": []})], id="logprobs"),
        pytest.param(
            [chunk({"content": "x"}), b'data: {"error": {"message": "boom"}}\n\n'], id="error-event"
        ),
        pytest.param([b"event: error\ndata: {}\n\n"], id="named-event"),
        pytest.param([b"data: not json\n\n"], id="not-json"),
        pytest.param([], id="empty"),
        pytest.param([b"data: [DONE]\n\n"], id="only-done"),
    ],
)
def test_streams_that_cannot_be_replayed_faithfully_are_refused(bad: list[bytes]) -> None:
    assert completion_from_stream(bad, USAGE, 1 << 20) is None


def test_a_stream_over_the_size_bound_is_refused() -> None:
    chunks = [chunk({"content": "x" * 600}), chunk({}, "stop")]
    assert completion_from_stream(chunks, USAGE, 512) is None
    assert completion_from_stream(chunks, USAGE, 4096) is not None


# -- the journal --------------------------------------------------------------------------------------


def test_the_journal_carries_invalidations_between_workers(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "invalidations.jsonl"
    a, b = Journal(path), Journal(path)
    assert b.poll() == []
    one = Invalidation(1000.5, tenant="alpha")
    two = Invalidation(1001.0, tenant="alpha", model="m", key="ab" * 16)
    a.publish(one)
    b.publish(two)
    assert b.poll() == [one, two]
    assert a.poll() == [one, two]  # its own lines too: applying one again drops nothing new
    assert a.poll() == b.poll() == []
    late = Journal(path)  # a worker started later starts at the end (its store is empty)
    assert late.poll() == []
    for j in (a, b, late):
        j.close()


def test_the_journal_skips_lines_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    reader, writer = Journal(path), Journal(path)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:  # lines no worker would write: one without a scope, one not JSON
        os.write(fd, b'{"before": 1, "tenant": null, "model": null, "key": null}\n' + b"garbage\n")
    finally:
        os.close(fd)
    assert reader.poll() == []  # nothing published yet: the shared length did not move
    writer.publish(Invalidation(5.0, model="m"))
    assert reader.poll() == [Invalidation(5.0, model="m")]
    reader.close()
    writer.close()


# -- drops and purges of the embedded stores ---------------------------------------------------------


def entry(tenant: str, model: str, created: float) -> Entry:
    return Entry(tenant=tenant, model=model, body=b"{}", created=created)


def test_a_journalled_drop_spares_entries_stored_after_it(runner: asyncio.Runner) -> None:
    store = MemoryEntries(100)
    runner.run(store.put("k1", entry("alpha", "m", 10.0), 60))
    runner.run(store.put("k2", entry("alpha", "n", 10.0), 60))
    runner.run(store.put("k3", entry("alpha", "m", 30.0), 60))
    runner.run(store.put("k4", entry("beta", "m", 10.0), 60))
    assert store.drop("alpha", "m", None, before=20.0) == 1  # k1 only: k3 is newer, k2/k4 out of scope
    assert runner.run(store.get("alpha", "m", "k3")) is not None
    assert store.drop(None, "m", "k4", before=20.0) == 1
    assert store.drop("alpha", None, None, before=50.0) == 2
    assert len(store) == 0


def test_the_stage_purges_expired_entries_and_vectors(runner: asyncio.Runner) -> None:
    clock = FakeClock()
    entries = MemoryEntries(100, clock=clock)
    index = MemoryIndex(100, clock=clock)
    stage = CacheStage(CacheConfig(enabled=True), entries, index, None)
    runner.run(entries.put("k1", entry("alpha", "m", 1.0), 10))
    runner.run(entries.put("k2", entry("alpha", "m", 1.0), 100))
    runner.run(index.add("alpha", "m", "scope", unit(1), "k1", "emb", 10))
    runner.run(index.add("alpha", "m", "scope", unit(2), "k2", "emb", 100))
    assert runner.run(stage.purge_expired()) == 0
    clock.now += 50
    assert runner.run(stage.purge_expired()) == 2  # k1's entry and its vector
    assert len(entries) == 1 and len(index) == 1
    assert runner.run(index.search("alpha", "scope", unit(2), 0.99, "emb")) == ("k2", pytest.approx(1.0))
