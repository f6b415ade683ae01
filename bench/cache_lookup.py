#!/usr/bin/env python3
"""Micro-benchmark of the semantic cache's vector lookup (issue 7: <= 1 ms at 100k entries on one
core): the embedded ``MemoryIndex`` (native ``VectorIndex``: exact scan up to 4096 vectors, Hamming
prefilter on sign bits + exact rescoring above), against the numpy brute force it replaced
(reimplemented here: one float32 matrix-vector product + argmax, on one BLAS thread), and Qdrant
local mode (10k only: it is slow).

Vectors: real MiniLM (int8) embeddings of ~1,850 texts (the questions of
``tests/cache_quality/pairs.jsonl``, their near-misses, generated support-style questions) and, to
reach 10k and 100k, synthetic vectors drawn around them: a random real embedding plus noise with
the covariance of the real ones, at cosine 0.6-0.95 from it. Embedding 100k real texts would take
minutes; this keeps the real mean direction and spectrum (what sign bits see) and, at 100k, gives
each real question ~50 topical neighbours: denser than a real cache, which does not store what it
already hits. Near-misses are stored with their questions ("flights from A to B" and "from B to
A"): the hardest neighbours to tell a paraphrase from. Everything is in one bucket (one tenant,
one scope): the worst case.

Queries (threshold 0.96): near-duplicates of stored vectors (cosine 0.96-0.99; noise half with the
embeddings' covariance, half isotropic), the real paraphrases of stored questions from the pair
set, and held-out generated questions (mostly unrelated). Truth is a float32 scan: recall = share
of the queries with a stored vector at >= 0.96 whose answer is that best vector (or one within
1e-5 of it); a wrong answer is any other key, or a hit where there is none. Qdrant local mode takes
~0.3 s per search here: it gets only the first 60 queries (p99 over those).

Timing: per query, ``time.perf_counter_ns`` around one search after 30 warm-up searches; median
and p99. ``MemoryIndex.search`` is driven without an event loop (it never suspends), so the figure
is the lookup itself. Insert: mean per vector over the whole fill. The numpy baseline also pays a
re-stack of the bucket's matrix on the first search after any add or removal (reported apart).

    python bench/cache_lookup.py [--quick] [--sizes 10000,100000] [--no-qdrant] [--cache-dir DIR]
"""

from __future__ import annotations

import os

# Before numpy loads: the baseline is one core, like the index (BLAS would use both).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import datetime as dt  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Coroutine  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from brutor._native import VectorIndex  # noqa: E402
from brutor.cache.index import MemoryIndex  # noqa: E402
from brutor.embed import Embedder, to_array  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embed import _cpu, _load  # noqa: E402 - the same machine lines as bench/embed.py

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT / "tests" / "cache_quality" / "pairs.jsonl"
THRESHOLD = 0.96
EMB = "all-MiniLM-L6-v2/int8-onnx@bench"
TTL = 3600.0
WARMUP = 30
Matrix = npt.NDArray[np.float32]
T = TypeVar("T")

ASK = ["How do I", "What is the best way to", "Can you explain how to", "Is it possible to", "Why can't I",
       "Help me", "Show me how to", "What happens if I", "Where can I", "Who should I ask to"]  # fmt: skip
VERB = ["reset", "cancel", "renew", "export", "delete", "share", "back up", "restore", "upgrade",
        "configure", "translate", "summarize", "compare", "install", "pay for", "refund", "schedule",
        "debug", "migrate", "audit"]  # fmt: skip
OBJ = ["my password", "my subscription", "the invoice for March", "a shared calendar",
       "my flight to Berlin", "the project report", "a Python virtual environment", "my phone plan",
       "the team's Slack workspace", "a hotel booking in Rome", "two-factor authentication",
       "my credit card limit", "the quarterly budget", "a docker container", "the PostgreSQL database",
       "my gym membership", "a pull request on GitHub", "the printer drivers", "my insurance claim",
       "an Excel pivot table", "the wifi router", "my tax return", "a dentist appointment",
       "the Kubernetes cluster", "my car lease", "the onboarding checklist"]  # fmt: skip
CTX = ["", " on Windows", " on my iPhone", " for my whole team", " before Friday", " without losing data",
       " in German", " for free", " as an admin", " from abroad"]  # fmt: skip


def texts(rng: random.Random, generated: int) -> tuple[list[str], list[str], list[str]]:
    """Stored texts (pair-set questions and their near-misses, generated questions), paraphrase
    query texts of the pair set, held-out generated texts."""
    pairs = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line]
    stored = sorted({p["a"] for p in pairs} | {p["b"] for p in pairs if p["kind"] != "paraphrase"})
    paraphrases = sorted({p["b"] for p in pairs if p["kind"] == "paraphrase"} - set(stored))
    gen: set[str] = set()
    while len(gen) < generated:
        gen.add(f"{rng.choice(ASK)} {rng.choice(VERB)} {rng.choice(OBJ)}{rng.choice(CTX)}?")
    made = sorted(gen)
    rng.shuffle(made)
    held = generated // 4
    return stored + made[held:], paraphrases, made[:held]


def units(m: npt.NDArray[Any]) -> Matrix:
    return np.asarray(m / np.linalg.norm(m, axis=1, keepdims=True), dtype=np.float32)


def noise_like(real: Matrix, rng: np.random.Generator) -> Callable[[int, bool], npt.NDArray[np.float64]]:
    """Draws of noise with the covariance of ``real`` (or isotropic)."""
    chol = np.linalg.cholesky(np.cov(real.T.astype(np.float64)) + 1e-9 * np.eye(real.shape[1]))

    def draw(n: int, shaped: bool = True) -> npt.NDArray[np.float64]:
        z = rng.standard_normal((n, real.shape[1]))
        return np.asarray(z @ chol.T) if shaped else z

    return draw


def at_cosine(v: Matrix, cos: npt.NDArray[np.float64], noise: npt.NDArray[np.float64]) -> Matrix:
    """Unit vectors at cosine ``cos`` from the rows of ``v``, towards ``noise``."""
    d = noise - (noise * v).sum(1, keepdims=True) * v
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return units(cos[:, None] * v + np.sqrt(1 - cos * cos)[:, None] * d)


@dataclass
class Queries:
    kinds: list[str]
    vectors: Matrix
    bytes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.bytes = [q.tobytes() for q in self.vectors]


def make_queries(
    stored: Matrix, paraphrases: Matrix, held: Matrix, rng: np.random.Generator, draw: Any, n_near: int
) -> Queries:
    picks = stored[rng.integers(0, len(stored), n_near)]
    cos = rng.uniform(0.96, 0.99, n_near)
    half = n_near // 2
    near = np.concatenate(
        [
            at_cosine(picks[:half], cos[:half], draw(half)),
            at_cosine(picks[half:], cos[half:], draw(n_near - half, False)),
        ]
    )
    kinds = (
        ["near-duplicate"] * n_near + ["pair-set paraphrase"] * len(paraphrases) + ["held-out"] * len(held)
    )
    return Queries(kinds, np.concatenate([near, paraphrases, held]))


def truth(stored: Matrix, queries: Queries) -> list[set[int]]:
    """Per query, the rows that are a correct answer (empty: no stored vector at >= threshold)."""
    out = []
    for start in range(0, len(queries.vectors), 64):
        scores = queries.vectors[start : start + 64] @ stored.T
        for row in scores:
            best = float(row.max())
            out.append(set(np.flatnonzero(row >= best - 1e-5).tolist()) if best >= THRESHOLD else set())
    return out


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("the coroutine suspended")


def timed(fn: Callable[[bytes], T], queries: Queries) -> tuple[list[float], list[T]]:
    """µs per query and the answers."""
    for q in queries.bytes[:WARMUP]:
        fn(q)
    gc.collect()
    samples, answers = [], []
    for q in queries.bytes:
        t = time.perf_counter_ns()
        answers.append(fn(q))
        samples.append((time.perf_counter_ns() - t) / 1000)
    return samples, answers


@dataclass
class Row:
    name: str
    samples: list[float]
    answers: list[int | None]
    insert_us: float | None = None

    def median(self) -> float:
        return float(np.median(self.samples))

    def p99(self) -> float:
        return float(np.quantile(self.samples, 0.99))


def recall(
    answers: list[int | None], good: list[set[int]], kinds: list[str], only: str | None = None
) -> tuple[int, int, int]:
    """(found, should be found, wrong answers), over queries of kind ``only`` (all if None)."""
    found = total = wrong = 0
    for answer, ok, kind in zip(answers, good, kinds, strict=True):
        if only is not None and kind != only:
            continue
        total += bool(ok)
        found += answer in ok
        wrong += answer is not None and answer not in ok
    return found, total, wrong


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_memory(stored: Matrix, queries: Queries) -> tuple[Row, Row, float]:
    index = MemoryIndex(len(stored))
    keys = [f"entry-{i}" for i in range(len(stored))]
    blobs = [v.tobytes() for v in stored]
    gc.collect()
    rss0, t = rss_mb(), time.perf_counter()
    for key, blob in zip(keys, blobs, strict=True):
        run_sync(index.add("tenant", "model", "scope", blob, key, EMB, TTL))
    insert_us = (time.perf_counter() - t) / len(stored) * 1e6
    mb = rss_mb() - rss0

    def search(q: bytes) -> int | None:
        hit = run_sync(index.search("tenant", "scope", q, THRESHOLD, EMB))
        return int(hit[0].removeprefix("entry-")) if hit else None

    native = index._buckets[(EMB, "scope")].index  # slot i holds row i: nothing was removed

    def core(q: bytes) -> int | None:
        hits = native.search(q, THRESHOLD, 8)
        return hits[0][0] if hits else None

    samples, answers = timed(search, queries)
    core_samples, core_answers = timed(core, queries)
    return (
        Row("MemoryIndex.search (native)", samples, answers, insert_us),
        Row("VectorIndex.search alone", core_samples, core_answers, _insert_only(blobs[:10_000])),
        mb * 1e6 / len(stored),
    )


def _insert_only(blobs: list[bytes]) -> float:
    index = VectorIndex(len(blobs[0]) // 4)
    t = time.perf_counter()
    for blob in blobs:
        index.insert(blob)
    return (time.perf_counter() - t) / len(blobs) * 1e6


def bench_numpy(stored: Matrix, queries: Queries) -> tuple[Row, float]:
    rows = list(stored)
    t = time.perf_counter()
    matrix = np.stack(rows)  # what the old index redid after every change of the bucket
    restack_ms = (time.perf_counter() - t) * 1000

    def search(q: bytes) -> int | None:
        scores = matrix @ np.frombuffer(q, dtype="<f4")
        i = int(np.argmax(scores))
        return i if scores[i] >= THRESHOLD else None

    samples, answers = timed(search, queries)
    return Row("numpy brute force (matvec + argmax)", samples, answers), restack_ms


def bench_qdrant(stored: Matrix, queries: Queries, n_queries: int) -> Row:
    from qdrant_client import AsyncQdrantClient

    from brutor.cache.qdrant_index import QdrantIndex

    sub = Queries(queries.kinds[:n_queries], queries.vectors[:n_queries])
    with asyncio.Runner() as runner:
        client = AsyncQdrantClient(":memory:")
        index = QdrantIndex(client, dims=stored.shape[1], payload_indexes=False)

        async def fill() -> float:
            t = time.perf_counter()
            for i, v in enumerate(stored):
                await index.add("tenant", "model", "scope", v.tobytes(), f"entry-{i}", EMB, TTL)
            return (time.perf_counter() - t) / len(stored) * 1e6

        insert_us = runner.run(fill())

        def search(q: bytes) -> int | None:
            hit = runner.run(index.search("tenant", "scope", q, THRESHOLD, EMB))
            return int(hit[0].removeprefix("entry-")) if hit else None

        samples, answers = timed(search, sub)
        runner.run(client.close())
    return Row("Qdrant local mode", samples, answers, insert_us)


def headroom(stored: Matrix, queries: Queries, good: list[set[int]], oversample: int) -> tuple[int, int]:
    index = VectorIndex(stored.shape[1], oversample=oversample)
    for v in stored:
        index.insert(v.tobytes())
    answers = [hits[0][0] if (hits := index.search(q, THRESHOLD, 1)) else None for q in queries.bytes]
    found, total, _ = recall(answers, good, queries.kinds)
    return found, total


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer generated texts and queries (~40 s)")
    parser.add_argument("--sizes", default="10000,100000", help="vectors in the bucket (comma-separated)")
    parser.add_argument("--no-qdrant", action="store_true", help="skip Qdrant local mode")
    parser.add_argument("--cache-dir", type=Path, help="model cache (default: a temporary directory)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    generated, n_near, n_qdrant = (600, 300, 30) if args.quick else (1600, 400, 60)

    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    stored_texts, para_texts, held_texts = texts(rng, generated)
    with tempfile.TemporaryDirectory(prefix="brutor-lookup-bench-") as tmp:
        emb = Embedder.load(args.cache_dir or Path(tmp))
        t = time.perf_counter()
        real, para, held = (
            np.stack([to_array(emb.embed(s)) for s in group])
            for group in (stored_texts, para_texts, held_texts)
        )
        embed_s = time.perf_counter() - t
        emb.close()
    draw = noise_like(real, nrng)
    pool_n = max(sizes) - len(real)
    pool = at_cosine(real[nrng.integers(0, len(real), pool_n)], nrng.uniform(0.6, 0.95, pool_n), draw(pool_n))
    n_real = len(real) + len(para) + len(held)
    print(f"embedded {n_real} texts in {embed_s:.1f} s; {pool_n} synthetic vectors", file=sys.stderr)

    lines, notes = [], []
    for size in sizes:
        stored = np.concatenate([real, pool[: size - len(real)]])
        stored = stored[nrng.permutation(len(stored))]
        queries = make_queries(stored, para, held, nrng, draw, n_near)
        good = truth(stored, queries)
        mem, core, bytes_per_vector = bench_memory(stored, queries)
        base, restack_ms = bench_numpy(stored, queries)
        rows = [mem, core, base]
        if size <= 10_000 and not args.no_qdrant:
            rows.append(bench_qdrant(stored, queries, n_qdrant))
        for row in rows:
            n = len(row.answers)
            found, total, wrong = recall(row.answers, good[:n], queries.kinds[:n])
            insert = f"{row.insert_us:.1f}" if row.insert_us is not None else "-"
            lines.append(
                f"| {size:,} | {row.name} | {row.median():.0f} | {row.p99():.0f} | "
                f"{base.median() / row.median():.3g}x | {insert} | {found}/{total} ({wrong} wrong) |"
            )
            print(lines[-1], flush=True)
        kinds = [
            f"{kind} {f}/{t_}"
            for kind in dict.fromkeys(queries.kinds)
            for f, t_, _ in [recall(mem.answers, good, queries.kinds, kind)]
        ]
        notes.append(
            f"- {size:,} vectors: {len(queries.bytes)} queries, {sum(map(bool, good))} with a stored vector at "
            f">= {THRESHOLD} (found by kind: {', '.join(kinds)}). numpy re-stack of the bucket after a "
            f"change: {restack_ms:.0f} ms."
        )
        if size == max(sizes):
            native_slot = stored.shape[1] * 4 + -(-stored.shape[1] // 64) * 8 + 1
            notes.append(
                f"- Memory at {size:,}: process RSS growth while filling MemoryIndex {bytes_per_vector:.0f} "
                f"B/vector (native slot: {native_slot} B = float32 vector + sign code + live flag; the rest "
                "is Python bookkeeping: key, tenant, model, expiry, insertion order)."
            )
            for oversample in (1, 8):
                found, total = headroom(stored, queries, good, oversample)
                notes.append(
                    f"- Headroom at {size:,}: VectorIndex with oversample {oversample} (default 64), limit 1: recall {found}/{total}."
                )
        del stored, mem, core, base
        gc.collect()

    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    print(
        "\n".join(
            [
                "## Issue 7: semantic cache lookup",
                "",
                f"{today}, {platform.machine()} ({_cpu()}), Python {platform.python_version()}, numpy "
                f"{np.__version__}, load average {_load()}. Method: `python bench/cache_lookup.py"
                f"{' --quick' if args.quick else ''}` (docstring): one bucket, threshold {THRESHOLD}, "
                "µs per search (median, p99), ratio = numpy median / row median.",
                "",
                "| vectors | index | median µs | p99 µs | vs numpy | insert µs/vector | recall (exact best found) |",
                "|---|---|---|---|---|---|---|",
                *lines,
                "",
                *notes,
                "",
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
