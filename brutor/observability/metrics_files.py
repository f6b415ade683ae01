"""Worker snapshot files: atomic write, tolerant read, merge across workers, Prometheus exposition.

Each worker process writes its cumulative state to ``<directory>/worker-<id>.json`` (orjson; a temp file
then ``os.replace``, so a reader sees the old file or the new one, never a torn one). Any worker serving
``GET /metrics`` merges every file with its own live state:

- counters and histograms are summed over all files, also those of dead workers, so a series never goes
  backwards when a worker exits (a worker restarted under the same id adopts its predecessor's totals);
- gauges are combined (``MetricSpec.aggregate``) over live workers only: a dead worker's spool is gone.

A worker is live when its pid runs and (on Linux) that process started at the recorded time, so a
recycled pid is not mistaken for the old worker; a file marked ``closed`` (clean shutdown) is not live.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from brutor.observability.metrics_families import FAMILIES, MetricSpec

FORMAT_VERSION = 1
FILE_PREFIX = "worker-"
FILE_SUFFIX = ".json"

Labels = tuple[str, ...]


@dataclass(slots=True)
class Snapshot:
    """Label values are strings here. A histogram series is its bucket counts (``le`` order, +Inf last,
    not cumulative) followed by its sum in seconds."""

    counters: dict[str, dict[Labels, float]] = field(default_factory=dict)
    histograms: dict[str, dict[Labels, list[float]]] = field(default_factory=dict)
    gauges: dict[str, dict[Labels, float]] = field(default_factory=dict)

    def add(self, other: Snapshot, *, gauges: bool) -> None:
        for name, series in other.counters.items():
            mine = self.counters.setdefault(name, {})
            for labels, value in series.items():
                mine[labels] = mine.get(labels, 0.0) + value
        for name, hseries in other.histograms.items():
            hmine = self.histograms.setdefault(name, {})
            for labels, values in hseries.items():
                have = hmine.get(labels)
                hmine[labels] = (
                    values.copy() if have is None else [a + b for a, b in zip(have, values, strict=True)]
                )
        if gauges:
            for name, series in other.gauges.items():
                use_max = FAMILIES[name].aggregate == "max"
                mine = self.gauges.setdefault(name, {})
                for labels, value in series.items():
                    have_g = mine.get(labels)
                    if have_g is None:
                        mine[labels] = value
                    else:
                        mine[labels] = max(have_g, value) if use_max else have_g + value


@dataclass(slots=True)
class WorkerFile:
    pid: int
    start: int | None
    closed: bool
    snapshot: Snapshot

    def live(self) -> bool:
        return not self.closed and process_alive(self.pid, self.start)


def encode(snapshot: Snapshot, *, pid: int, start: int | None, closed: bool) -> bytes:
    return orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "pid": pid,
            "start": start,
            "closed": closed,
            "counters": {n: [[list(k), v] for k, v in s.items()] for n, s in snapshot.counters.items()},
            "histograms": {
                n: {"bounds": FAMILIES[n].buckets, "series": [[list(k), v] for k, v in s.items()]}
                for n, s in snapshot.histograms.items()
            },
            "gauges": {n: [[list(k), v] for k, v in s.items()] for n, s in snapshot.gauges.items()},
        }
    )


def decode(data: bytes) -> WorkerFile | None:
    """Parse a worker file; None when it is not one this version understands. Families or series that
    do not match the current table (an upgrade changed labels or buckets) are skipped, not guessed at."""
    try:
        doc = orjson.loads(data)
        if doc.get("v") != FORMAT_VERSION:
            return None
        snap = Snapshot()
        for kind, target in (("counters", snap.counters), ("gauges", snap.gauges)):
            for name, rows in doc[kind].items():
                spec = FAMILIES.get(name)
                if spec is not None and spec.kind == kind[:-1]:
                    target[name] = _rows(rows, spec)
        for name, hist in doc["histograms"].items():
            spec = FAMILIES.get(name)
            if spec is None or spec.kind != "histogram" or tuple(hist["bounds"]) != spec.buckets:
                continue
            width = len(spec.buckets) + 2
            snap.histograms[name] = {
                labels: [float(x) for x in values]
                for labels, values in _rows(hist["series"], spec).items()
                if len(values) == width
            }
        return WorkerFile(int(doc["pid"]), doc["start"], bool(doc["closed"]), snap)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def _rows(rows: Iterable[list[Any]], spec: MetricSpec) -> dict[Labels, Any]:
    out: dict[Labels, Any] = {}
    arity = len(spec.labels)
    for labels, value in rows:
        if len(labels) == arity:
            out[tuple(str(v) for v in labels)] = value
    return out


def write_atomic(path: Path, data: bytes) -> None:
    # The temp name is unique per process, so two processes never share a half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def read_files(directory: Path, skip: Path) -> Iterator[WorkerFile]:
    """Every readable worker file in the directory except ``skip`` (the caller's own)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(FILE_PREFIX) and name.endswith(FILE_SUFFIX)) or name == skip.name:
            continue
        try:
            data = (directory / name).read_bytes()
        except OSError:
            continue  # removed between listdir and open
        parsed = decode(data)
        if parsed is not None:
            yield parsed


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), or None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data[data.rindex(b")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int, start: int | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False
    except OSError:
        return _kill_probe(pid)
    fields = data[data.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return False  # exited, not yet reaped by its parent
    return start is None or int(fields[19]) == start


def _kill_probe(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SnapshotCollector(Collector):
    """Yields one merged snapshot as Prometheus families, every declared family even when empty (so a
    dashboard can tell "zero" from "not exported")."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snap = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._snap
        for name, spec in FAMILIES.items():
            labels = list(spec.labels)
            if spec.kind == "counter":
                counter = CounterMetricFamily(name, spec.help, labels=labels)
                for key, value in sorted(snap.counters.get(name, {}).items()):
                    counter.add_metric(key, value)
                yield counter
            elif spec.kind == "gauge":
                gauge = GaugeMetricFamily(name, spec.help, labels=labels)
                for key, value in sorted(snap.gauges.get(name, {}).items()):
                    gauge.add_metric(key, value)
                yield gauge
            else:
                hist = HistogramMetricFamily(name, spec.help, labels=labels)
                les = [floatToGoString(b) for b in spec.buckets] + ["+Inf"]  # type: ignore[no-untyped-call]
                for key, values in sorted(snap.histograms.get(name, {}).items()):
                    running = 0.0
                    buckets = []
                    for le, n in zip(les, values[:-1], strict=True):
                        running += n
                        buckets.append((le, running))
                    hist.add_metric(key, buckets, values[-1])
                yield hist
