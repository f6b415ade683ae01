"""Prometheus metrics for a gateway running as several worker processes, at ~1 µs per request.

prometheus_client's multiprocess mode costs ~1 µs per ``inc``/``observe`` (an mmap write under a lock)
plus the ``labels()`` lookup, and a request touches ~12 series (~16-36 µs measured, bench/observability.py),
so each worker aggregates in plain Python instead (~1.2 µs per request): dicts keyed by the
raw label values (converted to strings only when a snapshot is taken), histograms as lists of bucket
counts found with ``bisect``. Every ``flush_interval`` seconds, and at shutdown, the worker writes its
cumulative state to ``<directory>/worker-<id>.json``; ``render()`` on whichever worker serves
``GET /metrics`` merges all the files (see ``metrics_files`` for the merge rules).

Cardinality is bounded per worker: past ``max_label_sets`` distinct label sets in one family, new sets
are counted under one overflow series whose every label is ``"_other"``. For tokens and cost the bound
applies to (tenant, model) pairs. Merged output can hold up to workers x ``max_label_sets`` series.

The directory must belong to one gateway instance; call ``clear_directory`` in the parent process
before the workers start if totals should restart with the gateway. Each worker builds its own
``Metrics`` after the fork, with a distinct ``worker_id``, and keeps it for its lifetime. Not
thread-safe: call it from the event loop's thread only (a snapshot iterates the dicts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from bisect import bisect_left
from pathlib import Path
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from brutor.audit.record import AuditRecord
from brutor.observability.metrics_families import (
    CACHE,
    COST,
    FAMILIES,
    GUARDRAILS,
    NAMED,
    RATE_LIMITED,
    REQUEST_BUCKETS,
    REQUEST_DURATION,
    REQUESTS,
    STAGE_BUCKETS,
    STAGE_DURATION,
    TOKENS,
    TTFT,
    UPSTREAM_ERRORS,
)
from brutor.observability.metrics_files import (
    FILE_PREFIX,
    FILE_SUFFIX,
    Snapshot,
    SnapshotCollector,
    encode,
    process_start,
    read_files,
    write_atomic,
)
from brutor.observability.metrics_files import decode as decode_file

log = logging.getLogger("brutor.metrics")

OTHER = "_other"
_WORKER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Bucket bounds in milliseconds, as the audit record measures: no unit conversion per observation.
_REQUEST_MS = tuple(b * 1000.0 for b in REQUEST_BUCKETS)
_STAGE_MS = tuple(b * 1000.0 for b in STAGE_BUCKETS)
_TOKEN_KINDS = ("prompt", "completion", "cached")


def clear_directory(directory: str | os.PathLike[str]) -> None:
    """Remove every worker file (and leftover temp file) so totals start from zero. Parent process only,
    before any worker starts."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(path):
        if name.startswith((FILE_PREFIX, "." + FILE_PREFIX)):
            with contextlib.suppress(FileNotFoundError):
                (path / name).unlink()


class Metrics:
    CONTENT_TYPE: ClassVar[str] = CONTENT_TYPE_LATEST

    def __init__(
        self,
        directory: str | os.PathLike[str],
        worker_id: str,
        *,
        flush_interval: float = 1.0,
        max_label_sets: int = 10000,
    ) -> None:
        if not _WORKER_ID.fullmatch(worker_id):
            raise ValueError(f"worker_id must match {_WORKER_ID.pattern}: {worker_id!r}")
        if max_label_sets < 1 or flush_interval <= 0:
            raise ValueError("max_label_sets must be >= 1 and flush_interval > 0")
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._interval = flush_interval
        self._max = max_label_sets
        # Record-derived state, keyed by raw values (None and ints allowed); see _snapshot.
        self._requests: dict[Any, int] = {}
        self._duration: dict[Any, list[float]] = {}
        self._stages: dict[Any, list[float]] = {}
        self._ttft: dict[Any, list[float]] = {}
        # (tenant, model) -> [prompt, completion, cached tokens, cost]: one lookup for four families.
        self._usage: dict[Any, list[float]] = {}
        self._cache: dict[Any, int] = {}
        self._guardrails: dict[Any, int] = {}
        self._rate_limited: dict[Any, int] = {}
        self._upstream: dict[Any, int] = {}
        # Named families, fed through inc / set_gauge; keys are already string tuples.
        self._counters: dict[str, dict[tuple[str, ...], float]] = {
            s.name: {} for s in NAMED if s.kind == "counter"
        }
        self._gauges: dict[str, dict[tuple[str, ...], float]] = {
            s.name: {} for s in NAMED if s.kind == "gauge"
        }
        self._pid = 0
        self._start: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._path, self._base = self._claim(worker_id)

    def _claim(self, worker_id: str) -> tuple[Path, Snapshot]:
        """Pick this worker's file. A predecessor that used the same id and is gone left totals that
        must keep counting (counters never go backwards): adopt its counters and histograms. If a live
        process still owns the id, use a pid-suffixed file rather than overwrite its totals."""
        path = self._dir / f"{FILE_PREFIX}{worker_id}{FILE_SUFFIX}"
        try:
            previous = decode_file(path.read_bytes())
        except OSError:
            return path, Snapshot()
        if previous is None or previous.pid == os.getpid() or not previous.live():
            base = Snapshot()
            if previous is not None:
                base.counters, base.histograms = previous.snapshot.counters, previous.snapshot.histograms
            return path, base
        log.warning("metrics file %s belongs to live pid %d; writing a separate file", path, previous.pid)
        return self._dir / f"{FILE_PREFIX}{worker_id}-{os.getpid()}{FILE_SUFFIX}", Snapshot()

    # -- hot path ------------------------------------------------------------------------------------

    def observe(self, record: AuditRecord) -> None:  # noqa: C901 (inlined on purpose: ~2 µs budget)
        """Count one finished request (served, rejected, cached or failed)."""
        tenant = record.tenant
        model = record.resource
        status = record.status
        cache = record.cache_status
        table: dict[Any, Any] = self._requests
        key: Any = (tenant, model, status, cache)
        n = table.get(key)
        if n is None:
            key = self._admit(table, key, (OTHER,) * 4)
            n = table.get(key, 0)
        table[key] = n + 1
        if cache != "off":
            if record.saved_tokens:
                self._observe_saved(record)
            table = self._cache
            n = table.get(cache)
            if n is None:
                cache = self._admit(table, cache, OTHER)
                n = table.get(cache, 0)
            table[cache] = n + 1
        hist = self._duration.get(model)
        if hist is None:
            hist = self._new_hist(self._duration, model, OTHER, len(_REQUEST_MS))
        ms = record.duration_ms
        hist[bisect_left(_REQUEST_MS, ms)] += 1
        hist[-1] += ms
        if (ms_ttft := record.ttft_ms) is not None:
            hist = self._ttft.get(model)
            if hist is None:
                hist = self._new_hist(self._ttft, model, OTHER, len(_REQUEST_MS))
            hist[bisect_left(_REQUEST_MS, ms_ttft)] += 1
            hist[-1] += ms_ttft
        stages = self._stages
        for stage, ms in record.stage_ms.items():
            hist = stages.get(stage)
            if hist is None:
                hist = self._new_hist(stages, stage, OTHER, len(_STAGE_MS))
            hist[bisect_left(_STAGE_MS, ms)] += 1
            hist[-1] += ms
        if record.prompt_tokens or record.completion_tokens or record.cost_usd:
            key = (tenant, model)
            acc = self._usage.get(key)
            if acc is None:
                acc = self._new_usage(key)
            acc[0] += record.prompt_tokens
            acc[1] += record.completion_tokens
            acc[2] += record.cached_tokens
            acc[3] += record.cost_usd
        if status >= 400 or record.error_code is not None:
            self._observe_error(record)
        if record.guardrails:
            self._observe_guardrails(record.guardrails)

    def _observe_saved(self, record: AuditRecord) -> None:
        labels = (str(record.tenant), str(record.resource))
        self.inc("brutor_cache_saved_tokens_total", labels, record.saved_tokens)
        self.inc("brutor_cache_saved_cost_usd_total", labels, record.saved_cost_usd)

    def _admit(self, table: dict[Any, Any], key: Any, other: Any) -> Any:
        """The key a new label set is counted under: itself while the family has room, else overflow."""
        return key if len(table) < self._max else other

    def _new_hist(self, table: dict[Any, list[float]], key: Any, other: Any, bounds: int) -> list[float]:
        key = self._admit(table, key, other)
        hist = table.get(key)
        if hist is None:
            # Counts per bucket (+Inf last), then the sum in milliseconds.
            hist = table[key] = [0] * (bounds + 1) + [0.0]
        return hist

    def _new_usage(self, key: Any) -> list[float]:
        key = self._admit(self._usage, key, (OTHER, OTHER))
        acc = self._usage.get(key)
        if acc is None:
            acc = self._usage[key] = [0, 0, 0, 0.0]
        return acc

    def _bump(self, table: dict[Any, int], key: Any, other: Any) -> None:
        if key not in table:
            key = self._admit(table, key, other)
        table[key] = table.get(key, 0) + 1

    def _observe_error(self, record: AuditRecord) -> None:
        code = record.error_code
        if record.status == 429:
            self._bump(self._rate_limited, (record.tenant, code), (OTHER, OTHER))
        if code is not None and code.startswith("upstream_"):
            self._bump(self._upstream, (record.deployment, code), (OTHER, OTHER))

    def _observe_guardrails(self, entries: list[dict[str, Any]]) -> None:
        # One decision per entity type acted on (a redaction of 3 e-mails counts once, as "EMAIL").
        for entry in entries:
            stage, action = entry.get("stage"), entry.get("action")
            types = entry.get("types") or {None: 1}
            for kind in types:
                self._bump(self._guardrails, (stage, action, kind), (OTHER, OTHER, OTHER))

    def inc(self, name: str, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        """Add to a named counter (``metrics_families.NAMED``); unknown names raise KeyError."""
        try:
            table = self._counters[name]
        except KeyError:
            raise KeyError(f"not a named counter: {name!r}") from None
        if len(labels) != len(FAMILIES[name].labels) or amount < 0:
            raise ValueError(f"{name}: labels {FAMILIES[name].labels} and a non-negative amount expected")
        if labels not in table:
            labels = self._admit(table, labels, (OTHER,) * len(labels))
        table[labels] = table.get(labels, 0.0) + amount

    def set_gauge(self, name: str, labels: tuple[str, ...], value: float) -> None:
        """Set a named gauge of this worker; unknown names raise KeyError."""
        try:
            table = self._gauges[name]
        except KeyError:
            raise KeyError(f"not a named gauge: {name!r}") from None
        if len(labels) != len(FAMILIES[name].labels):
            raise ValueError(f"{name}: labels {FAMILIES[name].labels} expected")
        if labels not in table:
            labels = self._admit(table, labels, (OTHER,) * len(labels))
        table[labels] = value

    # -- snapshots, files, exposition ------------------------------------------------------------------

    def _snapshot(self) -> Snapshot:
        """This worker's cumulative state with string labels, plus what a predecessor left."""
        snap = Snapshot()
        counters, hists = snap.counters, snap.histograms
        counters[REQUESTS.name] = _strings(self._requests.items())
        counters[CACHE.name] = _strings(self._cache.items())
        counters[GUARDRAILS.name] = _strings(self._guardrails.items())
        counters[RATE_LIMITED.name] = _strings(self._rate_limited.items())
        counters[UPSTREAM_ERRORS.name] = _strings(self._upstream.items())
        usage = list(self._usage.items())
        counters[TOKENS.name] = _strings(
            ((*k, kind), acc[i]) for k, acc in usage for i, kind in enumerate(_TOKEN_KINDS)
        )
        counters[COST.name] = _strings((k, acc[3]) for k, acc in usage)
        for spec, table in (
            (REQUEST_DURATION, self._duration),
            (TTFT, self._ttft),
            (STAGE_DURATION, self._stages),
        ):
            hists[spec.name] = _histograms(table)
        for name, series in self._counters.items():
            counters[name] = dict(series)
        snap.gauges = {name: dict(series) for name, series in self._gauges.items()}
        snap.add(self._base, gauges=False)
        return snap

    def flush(self) -> None:
        """Write this worker's cumulative state to its file (atomically)."""
        self._write(closed=False)

    def _write(self, *, closed: bool) -> None:
        pid = os.getpid()
        if pid != self._pid:
            self._pid, self._start = pid, process_start(pid)
        data = encode(self._snapshot(), pid=pid, start=self._start, closed=closed)
        try:
            write_atomic(self._path, data)
        except OSError as exc:
            # Metrics must never take requests down: keep counting in memory and retry next interval.
            log.warning("cannot write metrics file %s: %s", self._path, exc)

    def render(self) -> bytes:
        """The Prometheus text exposition of all workers: this one from memory, the others from files."""
        total = self._snapshot()
        for peer in read_files(self._dir, skip=self._path):
            total.add(peer.snapshot, gauges=peer.live())
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SnapshotCollector(total))
        return generate_latest(registry)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush every ``flush_interval`` seconds on ``loop`` until ``aclose``."""
        if self._task is None:
            self._task = loop.create_task(self._periodic())

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            # A small synchronous write (a few KB, page cache): cheaper than a thread hop.
            self.flush()

    async def aclose(self) -> None:
        """Stop the periodic flush and write the final state, marked closed (its gauges stop counting)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._write(closed=True)


def _label(value: Any) -> str:
    return "" if value is None else str(value)


def _strings(items: Any) -> dict[tuple[str, ...], float]:
    """Raw keys to string label tuples; keys that become equal (None and "") are summed."""
    out: dict[tuple[str, ...], float] = {}
    for key, value in items:
        labels = tuple(map(_label, key)) if isinstance(key, tuple) else (_label(key),)
        out[labels] = out.get(labels, 0.0) + value
    return out


def _histograms(table: dict[Any, list[float]]) -> dict[tuple[str, ...], list[float]]:
    out: dict[tuple[str, ...], list[float]] = {}
    for key, hist in table.items():
        labels = (_label(key),)
        values = [*hist[:-1], hist[-1] / 1000.0]
        have = out.get(labels)
        out[labels] = values if have is None else [a + b for a, b in zip(have, values, strict=True)]
    return out
