"""Metrics and tracing cost per request, in process, against the naive library alternatives.

Same run, same process, µs per request (median of ROUNDS timings of N requests each):
  - Metrics.observe(record) for a realistic served request (5 timed stages, tokens, cost, cache miss)
  - Tracing.begin + upstream_traceparent + finish, sampled, 7 spans:
      * the production path (exporter "otlp"): span rows encoded to OTLP protobuf, queued, batched by
        the export thread (whose CPU lands in this process too); only the HTTP POST is stubbed out
      * the processor path: SDK ReadableSpan objects handed to a no-op SpanProcessor
      * for reference, the SDK OTLP exporter's encode_spans of the same 7 spans (what the stock
        BatchSpanProcessor(OTLPSpanExporter) path adds on its export thread)
  - Tracing.begin with tracing disabled (what every request pays when tracing is off)
  - naive alternatives: prometheus_client Counter/Histogram in multiprocess mode (mmap files, one
    lock) and in its default single-process mode, for the same 12 updates; the OpenTelemetry SDK span
    API (tracer.start_span / end) for the same 7 spans, before any export
Plus the periodic costs: Metrics.flush() and Metrics.render() (2 workers' files merged).

    python bench/observability.py [--quick] [--write-results]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import prometheus_client
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from prometheus_client import values

from brutor.audit.record import AuditRecord
from brutor.observability.metrics import Metrics
from brutor.observability.metrics_families import REQUEST_BUCKETS, STAGE_BUCKETS
from brutor.observability.tracing import Tracing

BENCH = Path(__file__).resolve().parent
STAGES = {"identify": 0.012, "decode": 0.021, "authorize": 0.015, "cache": 0.004, "route": 0.003}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
# Brutor's CPU per non-streamed request in bench/RESULTS.md (issue 2): ~124 µs, i.e. ~8,000 req/s per core.
REQUEST_CPU_US = 124.0


def realistic_record(i: int = 0) -> AuditRecord:
    return AuditRecord(
        request_id=f"01JDQ{i:021d}",
        client_request_id=None,
        trace_id=None,
        started_at=time.time(),
        duration_ms=182.4,
        tenant="acme",
        key_id="key-7",
        subject="alice",
        target="llm",
        operation="chat.completions",
        resource="gpt-4o-mini",
        deployment="openai-eu",
        stream=False,
        status=200,
        error_code=None,
        cache_status="miss",
        stage_ms=dict(STAGES),
        ttft_ms=None,
        prompt_tokens=42,
        completion_tokens=128,
        cached_tokens=0,
        cost_usd=0.000083,
    )


class NoopProcessor(SpanProcessor):
    def on_end(self, span: ReadableSpan) -> None:
        pass


class NoopExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class CollectingProcessor(SpanProcessor):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def on_end(self, span: ReadableSpan) -> None:
        self.spans.append(span)


def timed(fn: Callable[[int], object], n: int, rounds: int) -> float:
    """Median µs per call of fn(i) over `rounds` runs of `n` calls."""
    fn(0)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(n):
            fn(i)
        samples.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(samples)


def naive_metrics(multiprocess: bool, directory: Path) -> Callable[[int], None]:
    """The same updates through prometheus_client's own metric classes, looked up with .labels()."""
    saved = values.ValueClass
    if multiprocess:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    try:
        reg = prometheus_client.CollectorRegistry()
        requests = prometheus_client.Counter(
            "requests", "", ["tenant", "model", "status", "cache"], registry=reg
        )
        duration = prometheus_client.Histogram(
            "duration_seconds", "", ["model"], buckets=REQUEST_BUCKETS, registry=reg
        )
        stage = prometheus_client.Histogram(
            "stage_seconds", "", ["stage"], buckets=STAGE_BUCKETS, registry=reg
        )
        tokens = prometheus_client.Counter("tokens", "", ["tenant", "model", "kind"], registry=reg)
        cost = prometheus_client.Counter("cost_usd", "", ["tenant", "model"], registry=reg)
        cache = prometheus_client.Counter("cache_requests", "", ["status"], registry=reg)
        rec = realistic_record()

        def observe(_i: int) -> None:
            tenant, model = rec.tenant or "", rec.resource or ""
            requests.labels(tenant, model, str(rec.status), rec.cache_status).inc()
            duration.labels(model).observe(rec.duration_ms / 1000)
            for name, ms in rec.stage_ms.items():
                stage.labels(name).observe(ms / 1000)
            tokens.labels(tenant, model, "prompt").inc(rec.prompt_tokens)
            tokens.labels(tenant, model, "completion").inc(rec.completion_tokens)
            tokens.labels(tenant, model, "cached").inc(rec.cached_tokens)
            cost.labels(tenant, model).inc(rec.cost_usd)
            cache.labels(rec.cache_status).inc()

        # Label children are created on first use: do it while the multiprocess value class is set.
        observe(0)
    finally:
        values.ValueClass = saved
    return observe


def naive_spans() -> Callable[[int], None]:
    """The same 7 spans through the SDK's live span API (no global provider, no context attach)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "brutor"}))
    provider.add_span_processor(NoopProcessor())
    tracer = provider.get_tracer("brutor")
    rec = realistic_record()
    attrs = {"brutor.tenant": "acme", "brutor.key_id": "key-7", "gen_ai.request.model": "gpt-4o-mini"}

    def request(_i: int) -> None:
        root = tracer.start_span("brutor.request", kind=trace.SpanKind.SERVER, attributes=attrs)
        ctx = trace.set_span_in_context(root)
        for name in (*rec.stage_ms, "call"):
            tracer.start_span(f"brutor.{name}", context=ctx).end()
        root.end()

    return request


OBSERVE_ROW = "Metrics.observe (5 stages, tokens, cost, cache miss)"
MP_ROW = "naive: prometheus_client multiprocess mode, 12 updates"
SP_ROW = "naive: prometheus_client single-process, 12 updates"
OTLP_ROW = "Tracing.begin + upstream_traceparent + finish, 7 spans, OTLP (encode + queue + batch)"
PROCESSOR_ROW = "Tracing.begin + upstream_traceparent + finish, 7 ReadableSpans to a no-op processor"
SDK_ENCODE_ROW = "  reference: the SDK exporter's encode_spans of those 7 spans"
SPAN_API_ROW = "naive: SDK span API start_span/end x 7 (no export)"


def traced(tracing: Tracing, start_ns: int) -> Callable[[int], None]:
    rec = realistic_record()

    def request(_i: int) -> None:
        ids = tracing.begin(TRACEPARENT)
        assert ids is not None
        tracing.upstream_traceparent(ids)
        tracing.finish(ids, rec, start_ns)

    return request


def measure(quick: bool) -> list[tuple[str, float]]:
    n, rounds = (3_000, 3) if quick else (20_000, 7)
    rec = realistic_record()
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        metrics = Metrics(Path(tmp) / "m", "0")
        rows.append(
            (
                "Metrics.observe (5 stages, tokens, cost, cache miss)",
                timed(lambda _: metrics.observe(rec), n, rounds),
            )
        )
        mp_dir = Path(tmp) / "mp"
        mp_dir.mkdir()
        rows.append(
            (
                "naive: prometheus_client multiprocess mode, 12 updates",
                timed(naive_metrics(True, mp_dir), n, rounds),
            )
        )
        rows.append(
            (
                "naive: prometheus_client single-process, 12 updates",
                timed(naive_metrics(False, mp_dir), n, rounds),
            )
        )

    start_ns = time.time_ns()
    otlp = Tracing(enabled=True, endpoint="http://127.0.0.1:9/v1/traces")
    assert otlp._otlp is not None
    # The network is not measured: the batch is built (in the export thread) and handed to a stub.
    otlp._otlp._post = lambda body: 200  # type: ignore[method-assign]
    rows.append((OTLP_ROW, timed(traced(otlp, start_ns), n, rounds)))
    otlp.shutdown()
    noop = Tracing(enabled=True, processor=NoopProcessor())
    rows.append((PROCESSOR_ROW, timed(traced(noop, start_ns), n, rounds)))
    collector = CollectingProcessor()
    tracing = Tracing(enabled=True, processor=collector)
    ids = tracing.begin(None)
    assert ids is not None
    tracing.finish(ids, rec, start_ns)
    spans = collector.spans
    rows.append((SDK_ENCODE_ROW, timed(lambda _: encode_spans(spans), n // 4, rounds)))
    off = Tracing(enabled=False)
    rows.append(("Tracing.begin, tracing disabled", timed(lambda _: off.begin(TRACEPARENT), n * 10, rounds)))
    rows.append((SPAN_API_ROW, timed(naive_spans(), n // 4, rounds)))
    return rows


def periodic(quick: bool) -> list[tuple[str, float]]:
    """flush() and render() in ms, for a small and a wide label set (two workers' files merged)."""
    rows = []
    for tenants, models in ((3, 3), (50, 20)):
        with tempfile.TemporaryDirectory() as tmp:
            workers = [Metrics(tmp, f"w{w}") for w in range(2)]
            for w in workers:
                for i in range(tenants * models * 2):
                    rec = realistic_record(i)
                    rec.tenant, rec.resource = f"tenant{i % tenants}", f"model{i // tenants % models}"
                    w.observe(rec)
            workers[1].flush()
            series = tenants * models
            reps = 5 if quick else 20
            flush_ms = timed(lambda _: workers[0].flush(), reps, 3) / 1000  # noqa: B023 (called right here)
            render_ms = timed(lambda _: workers[0].render(), reps, 3) / 1000  # noqa: B023
            rows.append((f"Metrics.flush, {series} tenant x model pairs (ms)", flush_ms))
            rows.append((f"Metrics.render, {series} pairs, 2 workers (ms)", render_ms))
    return rows


def report(rows: list[tuple[str, float]], periodic_rows: list[tuple[str, float]], quick: bool) -> str:
    by = dict(rows)
    observe, otlp = by[OBSERVE_ROW], by[OTLP_ROW]
    stock = by[PROCESSOR_ROW] + by[SDK_ENCODE_ROW]
    lines = ["| per request | µs | % of a 124 µs request |", "|---|---|---|"]
    lines += [f"| {k} | {v:.2f} | {v / REQUEST_CPU_US * 100:.1f} % |" for k, v in rows]
    lines += ["", "| ratio (same run) | times |", "|---|---|"]
    lines.append(f"| prometheus_client multiprocess / Metrics.observe | {by[MP_ROW] / observe:.1f} |")
    lines.append(f"| prometheus_client single-process / Metrics.observe | {by[SP_ROW] / observe:.1f} |")
    lines.append(f"| ReadableSpans + SDK encode_spans ({stock:.1f} µs) / OTLP path | {stock / otlp:.1f} |")
    lines.append(f"| SDK span API, before any export / OTLP path | {by[SPAN_API_ROW] / otlp:.1f} |")
    lines += ["", "| periodic, per worker | ms |", "|---|---|"]
    lines += [f"| {k.removesuffix(' (ms)')} | {v:.2f} |" for k, v in periodic_rows]

    # Throughput cost of added CPU x on a request of REQUEST_CPU_US: 1 - R / (R + x).
    def loss(x: float) -> float:
        return 100 * x / (REQUEST_CPU_US + x)

    lines += [
        "",
        f"- metrics: {observe:.2f} µs per request against a budget of ~2 µs "
        f"({'met' if observe <= 2.0 else 'missed'}); ~{loss(observe):.1f} % of throughput.",
        f"- tracing at 100 % sampling, OTLP path: ~{loss(otlp):.1f} % of throughput against a target of "
        f"<= 15 % ({'met' if loss(otlp) <= 15 else 'missed'}); the stock SDK export path would cost "
        f"~{loss(stock):.0f} %. Off: {by['Tracing.begin, tracing disabled']:.2f} µs.",
        f"- estimates: added CPU against Brutor's ~{REQUEST_CPU_US:.0f} µs per non-streamed request, "
        "not a load test.",
    ]
    n, rounds = (3_000, 3) if quick else (20_000, 7)
    meta = (
        f"- machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"python {platform.python_version()}, prometheus_client {prometheus_client_version()}, "
        f"opentelemetry-sdk {otel_version()}; load avg at start {os.getloadavg()[0]:.2f}\n"
        f"- method: `python bench/observability.py{' --quick' if quick else ''}`, one process, unpinned; "
        f"median of {rounds} rounds x {n} requests (span API and OTLP encoding: {n // 4}); "
        "the % column is against Brutor's ~124 µs CPU per non-streamed request (issue 2 run)"
    )
    return meta + "\n\n" + "\n".join(lines) + "\n"


def prometheus_client_version() -> str:
    from importlib.metadata import version

    return version("prometheus-client")


def otel_version() -> str:
    from importlib.metadata import version

    return version("opentelemetry-sdk")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer, shorter rounds (a smoke run)")
    p.add_argument("--write-results", action="store_true", help="append a section to bench/RESULTS.md")
    args = p.parse_args()
    text = report(measure(args.quick), periodic(args.quick), args.quick)
    print(text)
    if args.write_results:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        section = f"\n## Issue 5: metrics and tracing cost (micro-benchmarks)\n\nMeasured {stamp}.\n\n{text}"
        # Append only (others append to this file too): re-read nothing, never rewrite.
        with open(BENCH / "RESULTS.md", "a", encoding="utf-8") as f:
            f.write(section)
        print("appended to bench/RESULTS.md")


if __name__ == "__main__":
    main()
