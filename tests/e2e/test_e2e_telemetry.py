"""Prometheus /metrics (two workers, parsed with prometheus-client) and OpenTelemetry traces (OTLP/HTTP to
a collector in the test, decoded with opentelemetry-proto): one trace per request, W3C context in and out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from e2e_support import GatewayProcess, auth, wait_until
from mock_openai import DEFAULT_API_KEY as UPSTREAM_KEY
from mock_openai import MockOpenAI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.parser import text_string_to_metric_families

KEY = "sk-telemetry-e2e-0123456789"
FREE_KEY = "sk-telemetry-free-0123456789"
CHAT = "/v1/chat/completions"


class Collector:
    """An OTLP/HTTP traces endpoint that keeps every span it receives."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                req = ExportTraceServiceRequest()
                req.ParseFromString(self.rfile.read(int(self.headers["content-length"])))
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        outer.spans.extend(ss.spans)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def telemetry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayProcess, Collector, MockOpenAI]]:
    collector = Collector()
    upstream = MockOpenAI(api_key=UPSTREAM_KEY).start()
    root = tmp_path_factory.mktemp("telemetry")
    cfg = {
        "server": {"data_dir": str(root / "data"), "access_log": "off"},
        "keys": [
            {"id": "tele", "key": KEY, "tenant": "tele"},
            {"id": "free", "key": FREE_KEY, "tenant": "free"},
        ],
        "limits": {"tenants": {"tele": {"rpm": 40}}},
        "metrics": {"flush_seconds": 0.2},
        "tracing": {"enabled": True, "sample_ratio": 1.0, "endpoint": collector.url},
        "providers": [
            {"name": "offline", "type": "offline"},
            {"name": "mock", "type": "openai", "base_url": upstream.base_url, "api_key": UPSTREAM_KEY},
        ],
        "models": [
            {"name": "offline/echo", "provider": "offline", "price": {"input": 1.0, "output": 2.0}},
            {"name": "gpt-4o-mini", "provider": "mock"},
        ],
    }
    gw = GatewayProcess(root, cfg, args=["--workers", "2"])
    gw.start()
    try:
        yield gw, collector, upstream
    finally:
        gw.stop()
        collector.close()
        upstream.stop()


def families(gw: GatewayProcess) -> dict[str, Any]:
    resp = gw.request("GET", "/metrics")
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(resp.text)}


def value(fams: dict[str, Any], name: str, sample: str, **labels: str) -> float:
    fam = fams.get(name)
    if fam is None:
        return 0.0
    return sum(
        s.value
        for s in fam.samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_count_every_request_across_workers(telemetry: Any) -> None:
    gw, _, _ = telemetry
    body = {"model": "offline/echo", "messages": [{"role": "user", "content": "count me please"}]}
    before = families(gw)
    ok = sum(gw.request("POST", CHAT, body, auth(KEY)).status == 200 for _ in range(20))
    assert gw.request("POST", CHAT, body, auth("sk-wrong-key-0123456789")).status == 401

    def delta() -> float:
        now = families(gw)
        return value(
            now, "brutor_requests", "brutor_requests_total", tenant="tele", model="offline/echo", status="200"
        ) - value(
            before,
            "brutor_requests",
            "brutor_requests_total",
            tenant="tele",
            model="offline/echo",
            status="200",
        )

    assert wait_until(lambda: delta() == ok, 5), f"requests counted {delta()} of {ok}"
    # The 401 may have been answered by the other worker, whose totals reach the file on its own flush.
    assert wait_until(
        lambda: value(families(gw), "brutor_requests", "brutor_requests_total", status="401") >= 1, 5
    ), "the 401 was never counted"
    fams = families(gw)
    assert (
        value(
            fams, "brutor_tokens", "brutor_tokens_total", tenant="tele", model="offline/echo", kind="prompt"
        )
        >= 3 * ok
    )
    assert value(fams, "brutor_cost_usd", "brutor_cost_usd_total", tenant="tele", model="offline/echo") > 0
    assert (
        value(fams, "brutor_stage_duration_seconds", "brutor_stage_duration_seconds_count", stage="identify")
        >= ok
    )
    assert (
        value(
            fams,
            "brutor_request_duration_seconds",
            "brutor_request_duration_seconds_count",
            model="offline/echo",
        )
        >= ok
    )


def test_rate_limit_rejections_are_counted(telemetry: Any) -> None:
    gw, _, _ = telemetry
    body = {"model": "offline/echo", "messages": [{"role": "user", "content": "again"}]}
    # 40 a minute per worker (memory limiter), two workers: 100 requests must meet a 429.
    statuses = [gw.request("POST", CHAT, body, auth(KEY)).status for _ in range(100)]
    assert 429 in statuses
    assert wait_until(
        lambda: (
            value(families(gw), "brutor_rate_limited", "brutor_rate_limited_total", tenant="tele")
            >= statuses.count(429)
        ),
        5,
    )


def test_one_trace_per_request_with_stage_spans_and_context_in_and_out(telemetry: Any) -> None:
    gw, collector, upstream = telemetry
    upstream.reset()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = "00f067aa0ba902b7"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "trace me"}]}
    resp = gw.request("POST", CHAT, body, {**auth(FREE_KEY), "traceparent": f"00-{trace_id}-{parent}-01"})
    assert resp.status == 200

    def mine() -> list[Any]:
        return [s for s in collector.spans if s.trace_id.hex() == trace_id]

    assert wait_until(lambda: any(s.name == "brutor.request" for s in mine()), 10), "no root span exported"
    spans = {s.name: s for s in mine()}
    root = spans["brutor.request"]
    assert root.parent_span_id.hex() == parent
    assert {"brutor.identify", "brutor.decode", "brutor.authorize", "brutor.route", "brutor.call"} <= set(
        spans
    )
    for name, span in spans.items():
        if name != "brutor.request":
            assert span.parent_span_id == root.span_id
    attrs = {a.key: a.value for a in root.attributes}
    assert attrs["brutor.tenant"].string_value == "free"
    assert attrs["gen_ai.request.model"].string_value == "gpt-4o-mini"
    assert all(FREE_KEY not in str(a.value) for a in root.attributes)
    # The upstream saw the same trace, as a child of the call span.
    sent = [r for r in upstream.requests() if r["path"].endswith("/chat/completions")][-1]
    version, tid, span_id, flags = sent["headers"]["traceparent"].split("-")
    assert (version, tid, flags) == ("00", trace_id, "01")
    assert span_id == spans["brutor.call"].span_id.hex()
    assert len([s for s in mine() if s.name == "brutor.request"]) == 1


def test_metrics_endpoint_needs_no_key_but_hides_nothing_secret(telemetry: Any, tmp_path: Path) -> None:
    gw, _, _ = telemetry
    text = gw.request("GET", "/metrics").text
    assert KEY not in text and UPSTREAM_KEY not in text


def test_metrics_can_require_a_bearer_token(tmp_path: Path) -> None:
    token = "metrics-token-0123456789abcdef"
    cfg = {
        "server": {"data_dir": str(tmp_path / "data"), "access_log": "off"},
        "metrics": {"bearer_token": token},
        "keys": [{"id": "k", "key": KEY, "tenant": "t"}],
        "providers": [{"name": "offline", "type": "offline"}],
        "models": [{"name": "offline/echo", "provider": "offline"}],
    }
    gw = GatewayProcess(tmp_path, cfg).start()
    try:
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Bearer {KEY}"}):
            resp = gw.request("GET", "/metrics", None, headers)
            assert resp.status == 401 and resp.json()["error"]["code"] == "invalid_api_key"
            assert token not in resp.text
        resp = gw.request("GET", "/metrics", None, {"Authorization": f"Bearer {token}"})
        assert resp.status == 200 and "brutor_requests_total" in resp.text
    finally:
        gw.stop()
