"""OpenTelemetry traces: one trace per request, one span per pipeline stage, built after the fact.

The SDK's live span API costs ~8 µs per span (context objects, locks, bounded attribute copies), and
its OTLP exporter another ~13 µs per span to encode; 7-8 spans per request would cost about as much
CPU as the request. The pipeline already times its stages (``AuditRecord.stage_ms``) and the first
token, so the spans are laid out once the request is finished (``span_rows``: explicit ids, times,
parents) and then either

- encoded straight to OTLP protobuf and batched to the collector (``exporter="otlp"``, production; see
  ``tracing_otlp``), or
- built as SDK ``ReadableSpan`` objects and handed to a span processor's ``on_end`` (a ``processor``
  passed in, as the tests do with an in-memory exporter, or ``exporter="console"``).

No global tracer provider and no contextvars are involved.

Ids are drawn in ``begin`` so the upstream call can carry a W3C ``traceparent`` naming the (future)
``brutor.call`` span as its parent. Sampling follows OpenTelemetry's default
``ParentBased(TraceIdRatioBased)``: a valid inbound ``traceparent`` is continued and its sampled flag
obeyed; otherwise the new trace id is sampled by ratio. ``tracestate`` is not read or propagated.

Span attributes hold ids, names, codes and counts only: never a credential, prompt or completion
text, and not the subject (it may be personal data).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

import brutor
from brutor.audit.record import AuditRecord
from brutor.observability.tracing_otlp import OtlpHttpExporter, SpanEncoder, SpanRow

# Every attribute a span may carry (tests hold the implementation to this list).
ROOT_ATTRIBUTES = frozenset(
    {
        "brutor.request_id",
        "brutor.tenant",
        "brutor.key_id",
        "brutor.target",
        "brutor.operation",
        "gen_ai.request.model",
        "brutor.deployment",
        "http.response.status_code",
        "error.type",
        "brutor.cache.status",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "brutor.stream",
    }
)
CALL_ATTRIBUTES = frozenset({"gen_ai.request.model", "brutor.deployment", "error.type"})

# W3C Trace Context level 1: version-traceid-parentid-flags, lowercase hex only.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_LOW64 = (1 << 64) - 1
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
_INTERNAL, _SERVER, _CLIENT = SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT


@dataclass(slots=True)
class TraceIds:
    trace_id: int
    root_span_id: int
    call_span_id: int
    # The inbound caller's span, when the request continued a trace.
    parent_span_id: int | None
    sampled: bool

    @property
    def trace_id_hex(self) -> str:
        return f"{self.trace_id:032x}"


def parse_traceparent(value: str) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) from a ``traceparent`` header, or None when it is invalid.

    Version 00 must be exactly 55 characters; a later version may append fields after a dash (parsed
    as 00, as the spec asks); version ff, upper-case hex and all-zero ids are invalid.
    """
    value = value.strip(" \t")
    match = _TRACEPARENT.match(value)
    if match is None:
        return None
    version, trace_hex, parent_hex, flags_hex = match.groups()
    if version == "ff" or (len(value) != 55 and (version == "00" or value[55] != "-")):
        return None
    trace_id, parent_id = int(trace_hex, 16), int(parent_hex, 16)
    if trace_id == 0 or parent_id == 0:
        return None
    return trace_id, parent_id, bool(int(flags_hex, 16) & 1)


def _new_id(bits: int) -> int:
    # The stdlib's shared generator, as the SDK's RandomIdGenerator uses: it is reseeded in a forked
    # child, so worker processes never repeat each other's ids.
    while True:
        value = random.getrandbits(bits)
        if value:
            return value


class Tracing:
    def __init__(
        self,
        *,
        enabled: bool,
        sample_ratio: float = 1.0,
        exporter: Literal["otlp", "console", "none"] = "otlp",
        endpoint: str | None = None,
        headers: Mapping[str, str] | None = None,
        service_name: str = "brutor",
        processor: SpanProcessor | None = None,
    ) -> None:
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError("sample_ratio must be within [0, 1]")
        self._enabled = enabled
        # TraceIdRatioBased: sampled when the low 64 bits of the trace id are below this bound.
        self._bound = round(sample_ratio * (1 << 64))
        self._resource = Resource.create({"service.name": service_name})
        self._scope = InstrumentationScope("brutor", brutor.__version__)
        self._otlp: OtlpHttpExporter | None = None
        if processor is None and enabled:
            if exporter == "otlp":
                encoder = SpanEncoder(self._resource, self._scope.name, self._scope.version)
                self._otlp = OtlpHttpExporter(encoder, endpoint, headers)
            elif exporter == "console":
                processor = BatchSpanProcessor(ConsoleSpanExporter())
        # Both None with exporter "none": ids are still drawn and propagated (trace ids in the audit
        # trail and upstream), but no span is built.
        self._processor = processor

    def begin(self, traceparent: str | None) -> TraceIds | None:
        """Trace ids for a new request, or None when tracing is off or the request is not sampled."""
        if not self._enabled:
            return None
        if traceparent:
            parsed = parse_traceparent(traceparent)
            if parsed is not None:
                trace_id, parent_id, sampled = parsed
                if not sampled:
                    return None
                return TraceIds(trace_id, _new_id(64), _new_id(64), parent_id, True)
        trace_id = _new_id(128)
        if trace_id & _LOW64 >= self._bound:
            return None
        return TraceIds(trace_id, _new_id(64), _new_id(64), None, True)

    @staticmethod
    def upstream_traceparent(ids: TraceIds) -> str:
        """The ``traceparent`` for the upstream request: its parent is this request's call span."""
        return f"00-{ids.trace_id:032x}-{ids.call_span_id:016x}-01"

    def finish(self, ids: TraceIds, record: AuditRecord, start_time_ns: int) -> None:
        """Build the request's spans from its audit record and export them.

        ``start_time_ns``: Unix time of the request's arrival in nanoseconds.
        """
        if self._otlp is not None:
            self._otlp.add(ids.trace_id, span_rows(ids, record, start_time_ns))
        elif self._processor is not None:
            on_end = self._processor.on_end
            for span in self._readable(ids.trace_id, span_rows(ids, record, start_time_ns)):
                on_end(span)

    def _readable(self, trace_id: int, rows: list[SpanRow]) -> list[ReadableSpan]:
        """SDK span objects for a span processor (tests, the console exporter, a custom processor)."""
        spans = []
        for name, span_id, parent_id, remote, kind, start, end, attrs, first_token, error, message in rows:
            events = () if first_token is None else (Event("first_token", None, first_token),)
            spans.append(
                ReadableSpan(
                    f"brutor.{name}",
                    SpanContext(trace_id, span_id, False, _SAMPLED),
                    SpanContext(trace_id, parent_id, remote, _SAMPLED) if parent_id else None,
                    self._resource,
                    attrs,
                    events,
                    kind=kind,
                    status=Status(StatusCode.ERROR, message) if error else _UNSET,
                    start_time=start,
                    end_time=end,
                    instrumentation_scope=self._scope,
                )
            )
        return spans

    def shutdown(self) -> None:
        """Export what is queued and stop the exporter (blocks up to the processor's timeout)."""
        processor, self._processor = self._processor, None
        otlp, self._otlp = self._otlp, None
        self._enabled = False
        if processor is not None:
            processor.shutdown()
        if otlp is not None:
            otlp.shutdown()


# Timings recorded inside a stage (its children in the trace), written to ``stage_ms`` before it.
_PART_OF = {"embed": "cache"}


def span_rows(ids: TraceIds, record: AuditRecord, start_time_ns: int) -> list[SpanRow]:
    """The request's spans, children first, root last.

    Stages ran back to back from the arrival, in ``stage_ms`` order (every stage but "egress" runs
    before the call). The call span covers the time after the last of them up to the return path
    ("egress", when timed), which ends the request; it exists when the request was routed, since the
    caller always follows route. The first-token event sits on the call span (the root without one).
    """
    trace_end = start_time_ns + int(record.duration_ms * 1e6)
    root_id = ids.root_span_id
    rows: list[SpanRow] = []
    cursor = start_time_ns
    egress_ms: float | None = None
    parts: dict[str, list[tuple[str, float]]] = {}
    for stage, ms in record.stage_ms.items():
        if stage == "egress":
            egress_ms = ms
            continue
        owner = _PART_OF.get(stage)
        if owner is not None:
            parts.setdefault(owner, []).append((stage, ms))
            continue
        stage_end = min(cursor + int(ms * 1e6), trace_end)
        span_id = _new_id(64)
        rows.append((stage, span_id, root_id, False, _INTERNAL, cursor, stage_end, None, None, False, None))
        for part, part_ms in parts.pop(stage, ()):
            # A child drawn from its stage's start: the embedding follows only the exact-tier lookup.
            part_end = min(cursor + int(part_ms * 1e6), stage_end)
            rows.append(
                (part, _new_id(64), span_id, False, _INTERNAL, cursor, part_end, None, None, False, None)
            )
        cursor = stage_end
    egress_start = trace_end if egress_ms is None else max(cursor, trace_end - int(egress_ms * 1e6))
    code = record.error_code
    upstream_failed = code is not None and code.startswith("upstream_")
    first_token = None if record.ttft_ms is None else start_time_ns + int(record.ttft_ms * 1e6)
    if "route" in record.stage_ms:
        attrs: dict[str, Any] = {}
        _put(attrs, "gen_ai.request.model", record.resource)
        _put(attrs, "brutor.deployment", record.deployment)
        if upstream_failed:
            attrs["error.type"] = code
        call = ids.call_span_id
        rows.append(
            _row(
                "call",
                call,
                root_id,
                _CLIENT,
                cursor,
                egress_start,
                attrs,
                first_token,
                upstream_failed,
                code,
            )
        )
        first_token = None
    if egress_ms is not None:
        rows.append(
            _row("egress", _new_id(64), root_id, _INTERNAL, egress_start, trace_end, None, None, False, None)
        )
    # The root's parent is the inbound caller's span (remote), if any.
    parent = ids.parent_span_id or 0
    error = upstream_failed or record.status >= 500
    attrs = _root_attrs(record)
    rows.append(
        _row("request", root_id, parent, _SERVER, start_time_ns, trace_end, attrs, first_token, error, code)
    )
    return rows


def _row(
    name: str,
    span_id: int,
    parent_id: int,
    kind: SpanKind,
    start: int,
    end: int,
    attrs: dict[str, Any] | None,
    first_token: int | None,
    error: bool,
    code: str | None,
) -> SpanRow:
    # Only the root (SERVER) can have a parent outside this process: the inbound caller's span.
    remote = kind is _SERVER and parent_id != 0
    message = code if error else None
    return (name, span_id, parent_id, remote, kind, start, end, attrs, first_token, error, message)


def _put(attrs: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        attrs[key] = value


def _root_attrs(record: AuditRecord) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "brutor.request_id": record.request_id,
        "brutor.stream": record.stream,
        "brutor.cache.status": record.cache_status,
        "gen_ai.usage.input_tokens": record.prompt_tokens,
        "gen_ai.usage.output_tokens": record.completion_tokens,
    }
    # Absent rather than empty when unknown (a rejected request has no tenant or model); written out,
    # not looped or called, because this runs for every traced request.
    if (v := record.tenant) is not None:
        attrs["brutor.tenant"] = v
    if (v := record.key_id) is not None:
        attrs["brutor.key_id"] = v
    if (v := record.target) is not None:
        attrs["brutor.target"] = v
    if (v := record.operation) is not None:
        attrs["brutor.operation"] = v
    if (v := record.resource) is not None:
        attrs["gen_ai.request.model"] = v
    if (v := record.deployment) is not None:
        attrs["brutor.deployment"] = v
    if (v := record.error_code) is not None:
        attrs["error.type"] = v
    if record.status:
        attrs["http.response.status_code"] = record.status
    return attrs
