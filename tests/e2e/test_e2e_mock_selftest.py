"""Self-test of the mock upstream in its subprocess form (``python tests/mock_openai.py``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from e2e_support import http_request, sse_data
from mock_openai import DEFAULT_API_KEY

MOCK = Path(__file__).resolve().parent.parent / "mock_openai.py"


def test_mock_subprocess_records_and_terminates() -> None:
    proc = subprocess.Popen(
        [sys.executable, str(MOCK), "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        port = int(line.split()[1])
        auth = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
        body = {"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        resp = http_request(port, "POST", "/v1/chat/completions", body, auth)
        assert resp.status == 200 and resp.headers.get("transfer-encoding") == "chunked"
        events = sse_data(resp.body)
        assert events[-1] == "[DONE]"
        assert all(json.loads(e)["choices"] for e in events[:-1]), "no usage chunk unless asked"
        assert (
            http_request(port, "GET", "/v1/models", headers={"Authorization": "Bearer wrong"}).status == 401
        )
        recorded = http_request(port, "GET", "/_mock/requests").json()
        assert [r["path"] for r in recorded] == ["/v1/chat/completions", "/v1/models"]
        assert recorded[0]["body"] == body
        assert recorded[0]["headers"]["authorization"] == f"Bearer {DEFAULT_API_KEY}"
        assert http_request(port, "POST", "/_mock/reset", b"").status == 200
        assert http_request(port, "GET", "/_mock/requests").json() == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
