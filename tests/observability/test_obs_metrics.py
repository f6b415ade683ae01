"""Metrics in one process: what observe counts, histogram shape, named metrics, overflow, files."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest
from obs_support import STAGES, record, samples, total, value

from brutor.observability import metrics_files
from brutor.observability.metrics import Metrics, clear_directory
from brutor.observability.metrics_families import FAMILIES, REQUEST_BUCKETS, STAGE_BUCKETS


def test_a_served_request_is_counted_everywhere(tmp_path: Path) -> None:
    m = Metrics(tmp_path, "0")
    m.observe(record(ttft_ms=80.0, cached_tokens=5))
    m.observe(record(cache_status="hit", stage_ms={}, prompt_tokens=0, completion_tokens=0, cost_usd=0.0))
    p = samples(m.render())
    assert (
        value(p, "brutor_requests_total", tenant="acme", model="gpt-4o-mini", status="200", cache="miss") == 1
    )
    assert (
        value(p, "brutor_requests_total", tenant="acme", model="gpt-4o-mini", status="200", cache="hit") == 1
    )
    assert value(p, "brutor_cache_requests_total", status="miss") == 1
    assert value(p, "brutor_cache_requests_total", status="hit") == 1
    tokens = {
        k: value(p, "brutor_tokens_total", tenant="acme", model="gpt-4o-mini", kind=k)
        for k in ("prompt", "completion", "cached")
    }
    assert tokens == {"prompt": 20, "completion": 50, "cached": 5}
    assert value(p, "brutor_cost_usd_total", tenant="acme", model="gpt-4o-mini") == 0.25
    assert value(p, "brutor_request_duration_seconds_count", model="gpt-4o-mini") == 2
    assert value(p, "brutor_request_duration_seconds_sum", model="gpt-4o-mini") == pytest.approx(0.025)
    assert value(p, "brutor_time_to_first_token_seconds_count", model="gpt-4o-mini") == 1
    assert value(p, "brutor_time_to_first_token_seconds_sum", model="gpt-4o-mini") == pytest.approx(0.08)
    for stage, ms in STAGES.items():
        assert value(p, "brutor_stage_duration_seconds_count", stage=stage) == 1
        assert value(p, "brutor_stage_duration_seconds_sum", stage=stage) == pytest.approx(ms / 1000)
    for name in (
        "brutor_rate_limited_total",
        "brutor_upstream_errors_total",
        "brutor_guardrail_actions_total",
    ):
        assert total(p, name) == 0


def test_unknown_tenant_and_model_are_empty_labels_and_cache_off_is_not_a_lookup(tmp_path: Path) -> None:
    m = Metrics(tmp_path, "0")
    m.observe(
        record(
            tenant=None,
            resource=None,
            status=401,
            error_code="unauthenticated",
            cache_status="off",
            stage_ms={},
        )
    )
    m.observe(
        record(
            tenant="", resource="", status=401, error_code="unauthenticated", cache_status="off", stage_ms={}
        )
    )
    p = samples(m.render())
    # None and "" are the same label set (summed), not two series that Prometheus would reject.
    assert value(p, "brutor_requests_total", tenant="", model="", status="401", cache="off") == 2
    assert total(p, "brutor_cache_requests_total") == 0
    assert total(p, "brutor_tokens_total") == 40 + 100


def test_errors_rate_limits_and_guardrails(tmp_path: Path) -> None:
    m = Metrics(tmp_path, "0")
    m.observe(record(status=429, error_code="rate_limited"))
    m.observe(record(status=429, error_code=None))
    m.observe(record(status=502, error_code="upstream_timeout"))
    m.observe(record(status=200, error_code="upstream_stream_cut"))
    m.observe(record(status=500, error_code="internal"))
    guard = [
        {"stage": "request", "action": "redact", "types": {"EMAIL": 2, "PHONE": 1}},
        {"stage": "response", "action": "block", "types": {}},
    ]
    m.observe(record(guardrails=guard))
    m.observe(record(guardrails=guard[:1]))
    p = samples(m.render())
    assert value(p, "brutor_rate_limited_total", tenant="acme", code="rate_limited") == 1
    assert value(p, "brutor_rate_limited_total", tenant="acme", code="") == 1
    assert value(p, "brutor_upstream_errors_total", deployment="openai-eu", code="upstream_timeout") == 1
    assert value(p, "brutor_upstream_errors_total", deployment="openai-eu", code="upstream_stream_cut") == 1
    assert total(p, "brutor_upstream_errors_total") == 2
    g = "brutor_guardrail_actions_total"
    assert value(p, g, stage="request", action="redact", type="EMAIL") == 2
    assert value(p, g, stage="request", action="redact", type="PHONE") == 2
    assert value(p, g, stage="response", action="block", type="") == 1


def test_histogram_buckets_are_cumulative_with_count_and_sum(tmp_path: Path) -> None:
    m = Metrics(tmp_path, "0")
    durations_ms = [0.2, 0.5, 0.7, 3.0, 99.0, 1000.0, 1000.0001, 119_000.0, 500_000.0]
    for ms in durations_ms:
        m.observe(record(duration_ms=ms, stage_ms={"identify": ms / 1000}))
    p = samples(m.render())
    name = "brutor_request_duration_seconds"
    for bound in REQUEST_BUCKETS:
        le = str(bound)
        expected = sum(1 for ms in durations_ms if ms / 1000 <= bound)
        assert value(p, f"{name}_bucket", model="gpt-4o-mini", le=le) == expected, le
    assert value(p, f"{name}_bucket", model="gpt-4o-mini", le="+Inf") == len(durations_ms)
    assert value(p, f"{name}_count", model="gpt-4o-mini") == len(durations_ms)
    assert value(p, f"{name}_sum", model="gpt-4o-mini") == pytest.approx(sum(durations_ms) / 1000)
    stage = [
        (le, v)
        for (n, labels), v in p.items()
        if n == "brutor_stage_duration_seconds_bucket"
        for k, le in labels
        if k == "le"
    ]
    assert len(stage) == len(STAGE_BUCKETS) + 1
    counts = [v for _, v in sorted(stage, key=lambda lv: float(lv[0]))]
    assert counts == sorted(counts) and counts[-1] == len(durations_ms)


def test_named_counters_and_gauges_are_validated(tmp_path: Path) -> None:
    m = Metrics(tmp_path, "0")
    m.inc("brutor_audit_rows_written_total", ("postgres",), 64)
    m.inc("brutor_audit_rows_written_total", ("postgres",))
    m.inc("brutor_audit_spool_full_total")
    m.inc("brutor_limiter_backend_errors_total", ("tenant-rpm",))
    m.set_gauge("brutor_audit_spool_bytes", (), 4096)
    m.set_gauge("brutor_audit_spool_bytes", (), 1024)
    with pytest.raises(KeyError):
        m.inc("brutor_audit_rows_writen_total", ("postgres",))
    with pytest.raises(KeyError):
        m.inc("brutor_audit_spool_bytes")  # a gauge, not a counter
    with pytest.raises(KeyError):
        m.set_gauge("brutor_audit_spool_full_total", (), 1)
    with pytest.raises(KeyError):
        m.inc("brutor_requests_total", ("a", "b", "c", "d"))  # fed by observe only
    with pytest.raises(ValueError):
        m.inc("brutor_audit_rows_written_total")  # missing the sink label
    with pytest.raises(ValueError):
        m.inc("brutor_audit_spool_full_total", (), -1)
    p = samples(m.render())
    assert value(p, "brutor_audit_rows_written_total", sink="postgres") == 65
    assert value(p, "brutor_audit_spool_full_total") == 1
    assert value(p, "brutor_limiter_backend_errors_total", policy="tenant-rpm") == 1
    assert value(p, "brutor_audit_spool_bytes") == 1024


def test_every_family_is_exposed_with_help_and_type(tmp_path: Path) -> None:
    text = Metrics(tmp_path, "0").render().decode()
    for name, spec in FAMILIES.items():
        assert f"# HELP {name} {spec.help}" in text
        assert f"# TYPE {name} {spec.kind}" in text
    assert Metrics.CONTENT_TYPE.startswith("text/plain")


def test_label_sets_past_the_limit_fold_into_other(tmp_path: Path) -> None:
    m = Metrics(tmp_path, "0", max_label_sets=3)
    for i in range(10):
        m.observe(record(tenant=f"t{i}", resource=f"m{i}", stage_ms={}))
    for i in range(5):
        m.inc("brutor_audit_rows_written_total", (f"sink{i}",))
    p = samples(m.render())
    requests = {tuple(sorted(labels)): v for (n, labels), v in p.items() if n == "brutor_requests_total"}
    assert len(requests) == 4
    other = (("cache", "_other"), ("model", "_other"), ("status", "_other"), ("tenant", "_other"))
    assert requests[other] == 7
    assert sum(requests.values()) == 10
    assert value(p, "brutor_request_duration_seconds_count", model="_other") == 7
    assert value(p, "brutor_cost_usd_total", tenant="_other", model="_other") == 7 * 0.25
    assert value(p, "brutor_tokens_total", tenant="_other", model="_other", kind="prompt") == 7 * 20
    assert value(p, "brutor_audit_rows_written_total", sink="_other") == 2
    assert total(p, "brutor_audit_rows_written_total") == 5


def test_flush_writes_an_atomic_snapshot_another_worker_merges(tmp_path: Path) -> None:
    a, b = Metrics(tmp_path, "a"), Metrics(tmp_path, "b")
    a.observe(record())
    a.set_gauge("brutor_audit_spool_bytes", (), 10)
    b.observe(record())
    b.set_gauge("brutor_audit_spool_bytes", (), 5)
    assert (
        value(
            samples(b.render()),
            "brutor_requests_total",
            tenant="acme",
            model="gpt-4o-mini",
            status="200",
            cache="miss",
        )
        == 1
    )
    a.flush()
    assert sorted(os.listdir(tmp_path)) == ["worker-a.json"]  # the temp file was renamed away
    doc = orjson.loads((tmp_path / "worker-a.json").read_bytes())
    assert doc["pid"] == os.getpid() and doc["closed"] is False
    p = samples(b.render())
    assert (
        value(p, "brutor_requests_total", tenant="acme", model="gpt-4o-mini", status="200", cache="miss") == 2
    )
    # Both processes are alive (the same one here): spool gauges sum.
    assert value(p, "brutor_audit_spool_bytes") == 15
    b.observe(record())
    # a's own render uses its memory (1) plus b's file, which b has not flushed yet (0).
    assert value(samples(a.render()), "brutor_request_duration_seconds_count", model="gpt-4o-mini") == 1


def test_periodic_flush_and_closed_files_drop_their_gauges(tmp_path: Path) -> None:
    async def run() -> None:
        a = Metrics(tmp_path, "a", flush_interval=0.02)
        a.start(asyncio.get_running_loop())
        a.observe(record())
        a.set_gauge("brutor_audit_spool_bytes", (), 10)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if (tmp_path / "worker-a.json").exists():
                break
        reader = Metrics(tmp_path, "r")
        assert value(samples(reader.render()), "brutor_audit_spool_bytes") == 10
        await a.aclose()
        p = samples(reader.render())
        assert value(p, "brutor_audit_spool_bytes") is None
        assert total(p, "brutor_requests_total") == 1

    asyncio.run(run())


def test_a_failing_flush_is_survived(tmp_path: Path) -> None:
    m = Metrics(tmp_path / "gone", "0")
    (tmp_path / "gone").rmdir()
    m.observe(record())
    m.flush()  # logged, not raised
    assert total(samples(m.render()), "brutor_requests_total") == 1


def test_unreadable_and_foreign_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "worker-x.json").write_bytes(b"{not json")
    (tmp_path / "worker-y.json").write_bytes(orjson.dumps({"v": 99}))
    skewed = {
        "v": metrics_files.FORMAT_VERSION,
        "pid": 1,
        "start": None,
        "closed": True,
        "counters": {"brutor_requests_total": [[["a", "b"], 5]], "brutor_gone_total": [[[], 1]]},
        "histograms": {
            "brutor_request_duration_seconds": {"bounds": [1.0], "series": [[["m"], [1, 0, 0.5]]]}
        },
        "gauges": {},
    }
    (tmp_path / "worker-z.json").write_bytes(orjson.dumps(skewed))
    p = samples(Metrics(tmp_path, "0").render())
    assert total(p, "brutor_requests_total") == 0
    assert total(p, "brutor_request_duration_seconds_count") == 0


def test_worker_ids_and_clear_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Metrics(tmp_path, "../escape")
    m = Metrics(tmp_path, "w-1")
    m.observe(record())
    m.flush()
    (tmp_path / "unrelated.txt").write_text("keep")
    clear_directory(tmp_path)
    assert os.listdir(tmp_path) == ["unrelated.txt"]
