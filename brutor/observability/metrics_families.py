"""The metric families Brutor exposes: names, help, label names, histogram buckets.

One table, read by the per-worker aggregator (``metrics.py``) and by the merge/exposition code
(``metrics_files.py``). Families fed from the audit record are filled by ``Metrics.observe``; the
``NAMED`` ones are fed by other parts of the gateway through ``Metrics.inc`` / ``Metrics.set_gauge``,
which reject any name not listed here (a typo is a programming error and should fail at once, not
export a series nobody alerts on). To add a named metric, add a ``MetricSpec`` to ``NAMED``.

Label values never carry secrets or prompt text: tenants, model names, deployments, stage names,
status and error codes, sink and policy names only.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    # Histogram upper bounds in seconds (ascending, +Inf implied).
    buckets: tuple[float, ...] = ()
    # How a gauge is combined across live workers: "sum" for per-worker quantities (each worker's own
    # spool), "max" for a shared quantity every worker reports in full.
    aggregate: Literal["sum", "max"] = "sum"


# Whole requests: 0.5 ms (a cache hit or rejection) to 120 s (a long streamed completion).
REQUEST_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
)  # fmt: skip
# Pipeline stages are usually tens of microseconds; a slow remote limiter or cache may take up to ~1 s.
STAGE_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip

REQUESTS = MetricSpec(
    "brutor_requests_total",
    "counter",
    "Requests answered, by tenant, model, HTTP status and cache status.",
    ("tenant", "model", "status", "cache"),
)
REQUEST_DURATION = MetricSpec(
    "brutor_request_duration_seconds",
    "histogram",
    "Time from request arrival to the end of the return path.",
    ("model",),
    REQUEST_BUCKETS,
)
STAGE_DURATION = MetricSpec(
    "brutor_stage_duration_seconds",
    "histogram",
    "Time spent in each pipeline stage.",
    ("stage",),
    STAGE_BUCKETS,
)
TTFT = MetricSpec(
    "brutor_time_to_first_token_seconds",
    "histogram",
    "Time from request arrival to the first token sent to the client.",
    ("model",),
    REQUEST_BUCKETS,
)
TOKENS = MetricSpec(
    "brutor_tokens_total",
    "counter",
    "Tokens used, by tenant, model and kind (prompt, completion, cached).",
    ("tenant", "model", "kind"),
)
COST = MetricSpec("brutor_cost_usd_total", "counter", "Estimated cost in US dollars.", ("tenant", "model"))
CACHE = MetricSpec(
    "brutor_cache_requests_total",
    "counter",
    "Response cache lookups by result (hit, miss, bypass, unavailable).",
    ("status",),
)
GUARDRAILS = MetricSpec(
    "brutor_guardrail_actions_total",
    "counter",
    "Guardrail decisions, one per entity type acted on in a request.",
    ("stage", "action", "type"),
)
RATE_LIMITED = MetricSpec(
    "brutor_rate_limited_total", "counter", "Requests refused with 429.", ("tenant", "code")
)
UPSTREAM_ERRORS = MetricSpec(
    "brutor_upstream_errors_total",
    "counter",
    "Requests that failed on the upstream provider.",
    ("deployment", "code"),
)

NAMED = (
    MetricSpec(
        "brutor_limiter_backend_errors_total",
        "counter",
        "Rate-limit backend failures (the policy's fail-open/closed rule applied).",
        ("policy",),
    ),
    MetricSpec(
        "brutor_cache_errors_total",
        "counter",
        "Cache store or index failures, by operation (lookup, store, purge); lookups fail open.",
        ("operation",),
    ),
    MetricSpec(
        "brutor_cache_saved_tokens_total",
        "counter",
        "Tokens of cached answers served instead of calling the provider.",
        ("tenant", "model"),
    ),
    MetricSpec(
        "brutor_cache_saved_cost_usd_total",
        "counter",
        "Estimated cost in US dollars of the cached answers served.",
        ("tenant", "model"),
    ),
    MetricSpec("brutor_audit_spool_bytes", "gauge", "Bytes waiting in the audit spool.", ()),
    MetricSpec(
        "brutor_audit_spool_full_total", "counter", "Audit records dropped because the spool was full."
    ),
    MetricSpec("brutor_audit_rows_written_total", "counter", "Audit rows written, by sink.", ("sink",)),
    MetricSpec(
        "brutor_audit_write_errors_total", "counter", "Failed audit batch writes, by sink.", ("sink",)
    ),
)

# Exposition order: record-derived families first, then the named ones.
FAMILIES: MappingProxyType[str, MetricSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            REQUESTS,
            REQUEST_DURATION,
            STAGE_DURATION,
            TTFT,
            TOKENS,
            COST,
            CACHE,
            GUARDRAILS,
            RATE_LIMITED,
            UPSTREAM_ERRORS,
            *NAMED,
        )
    }
)
