"""Shared helpers for the observability tests: deterministic audit records and exposition parsing."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from brutor.audit.record import AuditRecord

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

STAGES = {"identify": 0.012, "decode": 0.02, "authorize": 0.015, "cache": 0.004, "route": 0.003}


def record(**overrides: Any) -> AuditRecord:
    """A served, non-streamed chat completion with five timed stages; any field can be overridden."""
    fields: dict[str, Any] = {
        "request_id": "req-1",
        "client_request_id": None,
        "trace_id": None,
        "started_at": 1_700_000_000.0,
        "duration_ms": 12.5,
        "tenant": "acme",
        "key_id": "key-7",
        "subject": "alice@example.com",
        "target": "llm",
        "operation": "chat.completions",
        "resource": "gpt-4o-mini",
        "deployment": "openai-eu",
        "stream": False,
        "status": 200,
        "error_code": None,
        "cache_status": "miss",
        "stage_ms": dict(STAGES),
        "ttft_ms": None,
        "prompt_tokens": 20,
        "completion_tokens": 50,
        "cached_tokens": 0,
        "cost_usd": 0.25,
    }
    fields.update(overrides)
    return AuditRecord(**fields)


def varied(i: int) -> AuditRecord:
    """The i-th record of a deterministic mix: tenants, models, statuses, cache, errors, guardrails."""
    status = (200, 200, 200, 429, 502, 401)[i % 6]
    code = {429: "rate_limited", 502: "upstream_timeout", 401: "unauthenticated"}.get(status)
    return record(
        request_id=f"r{i}",
        tenant=(None, "acme", "globex")[i % 3] if status != 401 else None,
        resource=("gpt-4o-mini", "claude", None)[i % 5 % 3],
        status=status,
        error_code=code,
        cache_status=("off", "hit", "miss", "bypass")[i % 4],
        duration_ms=(0.3, 4.0, 250.0, 7000.0, 200000.0)[i % 5],
        ttft_ms=(None, 80.0, 1500.0)[i % 3],
        stage_ms={k: v * (1 + i % 7) for k, v in STAGES.items()},
        prompt_tokens=i % 11,
        completion_tokens=i % 13,
        cached_tokens=i % 3,
        cost_usd=(i % 5) * 0.125,
        guardrails=[{"stage": "request", "action": "redact", "types": {"EMAIL": 2, "PHONE": 1}}]
        if i % 4 == 0
        else None,
    )


def samples(text: bytes | str) -> Samples:
    if isinstance(text, bytes):
        text = text.decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate sample {key}"
            out[key] = s.value
    return out


def value(parsed: Samples, name: str, **labels: str) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


def total(parsed: Samples, name: str) -> float:
    return sum(v for (n, _), v in parsed.items() if n == name)
