"""The hand-written OTLP encoder against the SDK's, and delivery to a real HTTP collector."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from obs_support import STAGES, record
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from brutor.observability.tracing import TraceIds, Tracing, span_rows
from brutor.observability.tracing_otlp import OtlpHttpExporter, SpanEncoder, resolve_endpoint

START = 1_700_000_000_000_000_000
INBOUND = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

RECORDS = [
    record(),
    record(stage_ms={**STAGES, "egress": 0.04}, ttft_ms=3.5, stream=True),
    record(status=502, error_code="upstream_timeout", deployment=None),
    record(status=500, error_code=None, stage_ms={"identify": 0.01}),
    record(status=401, tenant=None, key_id=None, resource=None, stage_ms={}, cache_status="off"),
    # Non-ASCII, a name longer than 127 bytes (two-byte length), large and odd counts.
    record(tenant="café-ünïcode", resource="m" * 300, prompt_tokens=2**40, completion_tokens=0, status=0),
]


def test_encoding_matches_the_sdk_exporter_message_for_message() -> None:
    tracing = Tracing(enabled=True, exporter="none")
    encoder = SpanEncoder(tracing._resource, "brutor", tracing._scope.version)
    chunks, readable = [], []
    for i, rec in enumerate(RECORDS):
        ids = tracing.begin(INBOUND if i % 2 else None)
        assert ids is not None
        rows = span_rows(ids, rec, START + i)
        for _ in range(2):  # the second time from the name and attribute caches
            chunks.append(encoder.encode(ids.trace_id, rows))
            readable += tracing._readable(ids.trace_id, rows)
    ours = ExportTraceServiceRequest.FromString(encoder.request(chunks))
    theirs = encode_spans(readable)
    assert len(ours.resource_spans[0].scope_spans[0].spans) == len(readable)
    assert ours == theirs


def test_negative_and_float_attribute_values_encode_like_the_sdk() -> None:
    tracing = Tracing(enabled=True, exporter="none")
    encoder = SpanEncoder(tracing._resource, "brutor", None)
    ids = TraceIds(1, 2, 3, None, True)
    rows = span_rows(ids, record(), START)
    name, span_id, parent, remote, kind, start, end, _, ft, err, msg = rows[-1]
    attrs: dict[str, Any] = {"i": -5, "f": 0.25, "b": True, "s": "", "big": 2**63 - 1}
    rows[-1] = (name, span_id, parent, remote, kind, start, end, attrs, ft, err, msg)
    ours = ExportTraceServiceRequest.FromString(encoder.request([encoder.encode(1, rows)]))
    theirs = encode_spans(tracing._readable(1, rows))
    ours.resource_spans[0].scope_spans[0].scope.Clear()
    theirs.resource_spans[0].scope_spans[0].scope.Clear()
    assert ours == theirs


class Collector:
    """A local OTLP/HTTP receiver answering with scripted statuses (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[str, dict[str, str], bytes, int]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = collector.statuses.pop(0) if collector.statuses else 200
                collector.received.append((self.path, dict(self.headers), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[Any]:
        out = []
        for _, _, body, status in self.received:
            if status == 200:
                for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
                    for ss in rs.scope_spans:
                        out += ss.spans
        return out


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    c.thread.start()
    yield c
    c.server.shutdown()
    c.server.server_close()


def test_spans_reach_the_collector_with_its_headers(collector: Collector) -> None:
    tracing = Tracing(enabled=True, endpoint=collector.url, headers={"authorization": "Bearer t0ken"})
    trace_ids = set()
    for _ in range(20):
        ids = tracing.begin(None)
        assert ids is not None
        trace_ids.add(ids.trace_id.to_bytes(16, "big"))
        tracing.finish(ids, record(), START)
    tracing.shutdown()
    spans = collector.spans()
    assert len(spans) == 20 * 7
    assert {s.trace_id for s in spans} == trace_ids
    path, headers, _, _ = collector.received[0]
    assert path == "/v1/traces"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["authorization"] == "Bearer t0ken"


def test_a_busy_collector_gets_the_batch_again(collector: Collector) -> None:
    collector.statuses = [503]
    tracing = Tracing(enabled=True, exporter="none")
    exporter = OtlpHttpExporter(SpanEncoder(tracing._resource, "brutor", None), collector.url, delay=0.05)
    ids = tracing.begin(None)
    assert ids is not None
    exporter.add(ids.trace_id, span_rows(ids, record(), START))
    deadline = time.monotonic() + 10
    while len(collector.spans()) < 7 and time.monotonic() < deadline:
        time.sleep(0.02)
    exporter.shutdown()
    assert [status for *_, status in collector.received] == [503, 200]
    assert len(collector.spans()) == 7 and exporter.sent_batches == 1


def test_a_refused_batch_is_dropped_and_logged_once(
    collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    collector.statuses = [400]
    tracing = Tracing(enabled=True, endpoint=collector.url)
    ids = tracing.begin(None)
    assert ids is not None
    with caplog.at_level(logging.WARNING, logger="brutor.tracing"):
        tracing.finish(ids, record(), START)
        tracing.shutdown()
    assert [status for *_, status in collector.received] == [400]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "HTTP 400" in messages[0] and "t0ken" not in messages[0]


def test_no_collector_costs_nothing_but_a_warning() -> None:
    tracing = Tracing(enabled=True, endpoint="http://127.0.0.1:9/v1/traces")  # discard port: refused
    ids = tracing.begin(None)
    assert ids is not None
    tracing.finish(ids, record(), START)
    started = time.monotonic()
    tracing.shutdown()
    assert time.monotonic() - started < 5


def test_a_full_queue_drops_new_spans() -> None:
    tracing = Tracing(enabled=True, exporter="none")
    exporter = OtlpHttpExporter(
        SpanEncoder(tracing._resource, "brutor", None), "http://127.0.0.1:9", delay=60, queue_bytes=2000
    )
    for _ in range(5):
        ids = tracing.begin(None)
        assert ids is not None
        exporter.add(ids.trace_id, span_rows(ids, record(), START))
    assert exporter.dropped > 0
    exporter.shutdown()


def test_endpoint_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert resolve_endpoint(None) == "http://localhost:4318/v1/traces"
    assert resolve_endpoint("http://c:4318") == "http://c:4318/v1/traces"
    assert resolve_endpoint("http://c:4318/") == "http://c:4318/v1/traces"
    assert resolve_endpoint("https://c/otlp/v1/traces") == "https://c/otlp/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318/")
    assert resolve_endpoint(None) == "http://base:4318/v1/traces"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom")
    assert resolve_endpoint(None) == "http://traces:4318/custom"
    with pytest.raises(ValueError):
        Tracing(enabled=True, endpoint="ftp://c/v1/traces")


def test_the_embedding_is_a_child_of_the_cache_span_and_moves_no_stage() -> None:
    # The cache stage records "embed" before its own time: the stages after it keep their places.
    stage_ms = {
        "identify": 0.01,
        "decode": 0.02,
        "authorize": 0.01,
        "embed": 4.0,
        "cache": 4.5,
        "route": 0.01,
    }
    rows = span_rows(TraceIds(1, 2, 3, None, True), record(stage_ms=stage_ms, duration_ms=20.0), 10**9)
    spans = {r[0]: r for r in rows}
    cache, embed, route = spans["cache"], spans["embed"], spans["route"]
    assert embed[2] == cache[1]  # parent: the cache span
    assert embed[5] == cache[5] and embed[6] - embed[5] == 4_000_000 and embed[6] <= cache[6]
    assert cache[6] - cache[5] == 4_500_000 and route[5] == cache[6]
    assert spans["identify"][5] == 10**9 and len(rows) == 8  # 6 stages, call and the root
