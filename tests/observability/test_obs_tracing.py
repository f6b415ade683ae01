"""Tracing: ids, sampling, W3C traceparent handling and the span tree built from an audit record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from obs_support import STAGES, record
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from brutor.observability.tracing import (
    CALL_ATTRIBUTES,
    ROOT_ATTRIBUTES,
    TraceIds,
    Tracing,
    parse_traceparent,
)

START = 1_700_000_000_000_000_000
INBOUND_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INBOUND_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exp = InMemorySpanExporter()
    yield exp
    exp.shutdown()


def tracing(exporter: InMemorySpanExporter, ratio: float = 1.0) -> Tracing:
    return Tracing(enabled=True, sample_ratio=ratio, processor=SimpleSpanProcessor(exporter))


def finished(
    t: Tracing, exporter: InMemorySpanExporter, ids: TraceIds, **fields: object
) -> dict[str, ReadableSpan]:
    t.finish(ids, record(**fields), START)
    spans = exporter.get_finished_spans()
    by_name = {s.name: s for s in spans}
    assert len(by_name) == len(spans)
    return by_name


def test_span_tree_shape_times_and_ids(exporter: InMemorySpanExporter) -> None:
    t = tracing(exporter)
    ids = t.begin(None)
    assert ids is not None and ids.sampled and ids.parent_span_id is None
    stages = {**STAGES, "egress": 0.05}
    spans = finished(t, exporter, ids, stage_ms=stages, duration_ms=10.0, ttft_ms=4.0)
    names = [*(f"brutor.{s}" for s in STAGES), "brutor.call", "brutor.egress"]
    assert sorted(spans) == sorted([*names, "brutor.request"])
    root = spans["brutor.request"]
    assert root.kind is SpanKind.SERVER and root.parent is None
    assert root.context is not None
    assert root.context.trace_id == ids.trace_id and root.context.span_id == ids.root_span_id
    assert root.start_time == START and root.end_time == START + 10_000_000
    assert root.resource.attributes["service.name"] == "brutor"
    cursor = START
    for name in names:
        span = spans[name]
        ctx = span.context
        assert ctx is not None and span.parent is not None
        assert ctx.trace_id == ids.trace_id and span.parent.span_id == ids.root_span_id
        assert span.start_time == cursor, name  # back to back, in order
        assert span.end_time is not None and span.start_time is not None
        assert span.end_time >= span.start_time
        cursor = span.end_time
        expected = SpanKind.CLIENT if name == "brutor.call" else SpanKind.INTERNAL
        assert span.kind is expected
    assert cursor == root.end_time
    call = spans["brutor.call"]
    assert call.context is not None and call.context.span_id == ids.call_span_id
    assert call.start_time == START + int(sum(STAGES.values()) * 1e6)
    assert call.end_time == START + 10_000_000 - 50_000
    assert [(e.name, e.timestamp) for e in call.events] == [("first_token", START + 4_000_000)]
    assert len({s.context.span_id for s in spans.values() if s.context is not None}) == len(spans)


def test_the_upstream_traceparent_names_the_call_span(exporter: InMemorySpanExporter) -> None:
    t = tracing(exporter)
    ids = t.begin(None)
    assert ids is not None
    header = t.upstream_traceparent(ids)
    assert parse_traceparent(header) == (ids.trace_id, ids.call_span_id, True)
    assert header.split("-")[1] == ids.trace_id_hex and len(ids.trace_id_hex) == 32
    call = finished(t, exporter, ids)["brutor.call"]
    assert call.context is not None and f"{call.context.span_id:016x}" == header.split("-")[2]


def test_an_inbound_trace_is_continued(exporter: InMemorySpanExporter) -> None:
    t = tracing(exporter, ratio=0.0)  # the parent's decision wins over the ratio
    ids = t.begin(f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-01")
    assert ids is not None
    assert ids.trace_id_hex == INBOUND_TRACE and ids.parent_span_id == int(INBOUND_SPAN, 16)
    root = finished(t, exporter, ids)["brutor.request"]
    assert root.parent is not None and root.parent.is_remote
    assert root.parent.span_id == int(INBOUND_SPAN, 16) and root.parent.trace_id == int(INBOUND_TRACE, 16)


def test_sampling_decisions() -> None:
    on = Tracing(enabled=True, exporter="none")
    assert on.begin(f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-00") is None  # parent not sampled
    assert on.begin(f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-03") is not None  # other flag bits ignored
    assert all(on.begin(None) is not None for _ in range(1000))
    never = Tracing(enabled=True, sample_ratio=0.0, exporter="none")
    assert all(never.begin(None) is None for _ in range(1000))
    half = Tracing(enabled=True, sample_ratio=0.5, exporter="none")
    kept = [ids for ids in (half.begin(None) for _ in range(4000)) if ids is not None]
    assert 1700 < len(kept) < 2300
    assert all(ids.trace_id & (2**64 - 1) < 2**63 for ids in kept)  # TraceIdRatioBased on the low 64 bits
    off = Tracing(enabled=False)
    assert off.begin(f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-01") is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-0",  # short flags
        f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-01-extra",  # version 00 must be exactly 55 chars
        f"00-{INBOUND_TRACE[:-1]}-{INBOUND_SPAN}-01",  # short trace id
        f"ff-{INBOUND_TRACE}-{INBOUND_SPAN}-01",  # forbidden version
        f"00-{'0' * 32}-{INBOUND_SPAN}-01",  # all-zero trace id
        f"00-{INBOUND_TRACE}-{'0' * 16}-01",  # all-zero span id
        f"00-{INBOUND_TRACE.upper()}-{INBOUND_SPAN}-01",  # upper-case hex
        f"00_{INBOUND_TRACE}_{INBOUND_SPAN}_01",
        f"0g-{INBOUND_TRACE}-{INBOUND_SPAN}-01",
        f"01-{INBOUND_TRACE}-{INBOUND_SPAN}-01x",  # a later version's extra fields need a dash
    ],
)
def test_malformed_traceparent_starts_a_new_trace(header: str) -> None:
    assert parse_traceparent(header) is None
    ids = Tracing(enabled=True, exporter="none").begin(header)
    assert ids is not None and ids.parent_span_id is None and ids.trace_id_hex != INBOUND_TRACE


def test_future_versions_and_whitespace_are_accepted() -> None:
    expected = (int(INBOUND_TRACE, 16), int(INBOUND_SPAN, 16), True)
    assert parse_traceparent(f"cc-{INBOUND_TRACE}-{INBOUND_SPAN}-01-what-comes-next") == expected
    assert parse_traceparent(f" 00-{INBOUND_TRACE}-{INBOUND_SPAN}-01\t") == expected


def test_attributes_are_exactly_the_allowed_ones(exporter: InMemorySpanExporter) -> None:
    t = tracing(exporter)
    ids = t.begin(None)
    assert ids is not None
    spans = finished(
        t, exporter, ids, status=502, error_code="upstream_timeout", stream=True, subject="alice@example.com"
    )
    root, call = spans["brutor.request"], spans["brutor.call"]
    assert set(root.attributes or {}) == ROOT_ATTRIBUTES
    assert set(call.attributes or {}) == CALL_ATTRIBUTES
    assert dict(root.attributes or {}) == {
        "brutor.request_id": "req-1",
        "brutor.tenant": "acme",
        "brutor.key_id": "key-7",
        "brutor.target": "llm",
        "brutor.operation": "chat.completions",
        "gen_ai.request.model": "gpt-4o-mini",
        "brutor.deployment": "openai-eu",
        "http.response.status_code": 502,
        "error.type": "upstream_timeout",
        "brutor.cache.status": "miss",
        "gen_ai.usage.input_tokens": 20,
        "gen_ai.usage.output_tokens": 50,
        "brutor.stream": True,
    }
    for span in spans.values():
        assert "alice@example.com" not in (span.attributes or {}).values()
        assert set(span.attributes or {}) <= ROOT_ATTRIBUTES


def test_error_status(exporter: InMemorySpanExporter) -> None:
    t = tracing(exporter)

    def statuses(**fields: object) -> tuple[StatusCode, StatusCode | None]:
        exporter.clear()
        ids = t.begin(None)
        assert ids is not None
        spans = finished(t, exporter, ids, **fields)
        call = spans.get("brutor.call")
        return spans["brutor.request"].status.status_code, call.status.status_code if call else None

    assert statuses() == (StatusCode.UNSET, StatusCode.UNSET)
    assert statuses(status=503, error_code="upstream_unavailable") == (StatusCode.ERROR, StatusCode.ERROR)
    assert statuses(status=500, error_code="internal") == (StatusCode.ERROR, StatusCode.UNSET)
    # A stream cut after a 200: the upstream failed although the status was already sent.
    assert statuses(status=200, error_code="upstream_stream_cut") == (StatusCode.ERROR, StatusCode.ERROR)
    assert statuses(status=429, error_code="rate_limited", stage_ms={}) == (StatusCode.UNSET, None)


def test_a_request_that_never_reached_the_call_has_no_call_span(exporter: InMemorySpanExporter) -> None:
    t = tracing(exporter)
    ids = t.begin(None)
    assert ids is not None
    spans = finished(t, exporter, ids, stage_ms={"identify": 0.01}, status=401, cache_status="off")
    assert sorted(spans) == ["brutor.identify", "brutor.request"]


def test_spans_encode_as_otlp(exporter: InMemorySpanExporter) -> None:
    t = tracing(exporter)
    ids = t.begin(f"00-{INBOUND_TRACE}-{INBOUND_SPAN}-01")
    assert ids is not None
    spans = list(finished(t, exporter, ids, ttft_ms=3.0).values())
    request = encode_spans(spans)
    scope_spans = request.resource_spans[0].scope_spans
    assert len(request.resource_spans) == 1 and len(scope_spans) == 1
    assert scope_spans[0].scope.name == "brutor"
    encoded = {s.name: s for s in scope_spans[0].spans}
    assert encoded["brutor.request"].parent_span_id == bytes.fromhex(INBOUND_SPAN)
    assert encoded["brutor.call"].span_id == ids.call_span_id.to_bytes(8, "big")


def test_exporter_none_and_shutdown(exporter: InMemorySpanExporter) -> None:
    quiet = Tracing(enabled=True, exporter="none")
    ids = quiet.begin(None)
    assert ids is not None
    quiet.finish(ids, record(), START)  # builds nothing, raises nothing
    quiet.shutdown()
    t = tracing(exporter)
    t.shutdown()
    assert t.begin(None) is None
    with pytest.raises(ValueError):
        Tracing(enabled=True, sample_ratio=1.5)
