"""Bare passthrough baseline: granian RSGI + a pooled pyreqwest client, nothing else.

It is the "best stack" of shared/design/PERFORMANCE.md: read the body, parse it with orjson (to route
on "stream"), forward the original bytes over a keep-alive pool, and return the upstream body (or relay
the upstream stream chunk by chunk, without re-parsing it). No auth, no policy, no logging.

    BENCH_UPSTREAM=http://127.0.0.1:18080 \
    granian --interface rsgi --loop uvloop --workers 1 --runtime-threads 1 \
        --host 127.0.0.1 --port 8090 bench.passthrough:app

Routes like bench/brutor.yaml: stream requests go to $BENCH_UPSTREAM/stream/v1/chat/completions,
the others to $BENCH_UPSTREAM/plain/v1/chat/completions.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from pyreqwest.client import Client, ClientBuilder

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:18080").rstrip("/")
PLAIN_URL = UPSTREAM + "/plain/v1/chat/completions"
STREAM_URL = UPSTREAM + "/stream/v1/chat/completions"
UPSTREAM_KEY = os.environ.get("BENCH_UPSTREAM_KEY", "sk-upstream-fake")

JSON_HEADERS = [("content-type", "application/json")]
SSE_HEADERS = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
ERR_400 = b'{"error":{"message":"invalid JSON body","type":"invalid_request_error"}}'
ERR_404 = b'{"error":{"message":"not found","type":"not_found"}}'


class App:
    def __init__(self) -> None:
        self._client: Client | None = None

    def _get_client(self) -> Client:
        if self._client is None:
            self._client = ClientBuilder().max_connections(None).pool_max_idle_per_host(1024).build()
        return self._client

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        if scope.method != "POST" or scope.path != "/v1/chat/completions":
            proto.response_bytes(404, JSON_HEADERS, ERR_404)
            return
        body = await proto()
        try:
            req = orjson.loads(body)
        except orjson.JSONDecodeError:
            proto.response_bytes(400, JSON_HEADERS, ERR_400)
            return
        client = self._get_client()
        if req.get("stream"):
            builder = (
                client.post(STREAM_URL)
                .header("content-type", "application/json")
                .bearer_auth(UPSTREAM_KEY)
                .body_bytes(body)
                # Without this pyreqwest reads ahead up to 64 KiB before handing anything over, i.e. it
                # would not stream at all; Brutor sets the same limit.
                .streamed_read_buffer_limit(1)
            )
            async with builder.build_streamed() as resp:
                transport = proto.response_stream(resp.status, SSE_HEADERS)
                reader = resp.body_reader
                while (chunk := await reader.read_chunk()) is not None:
                    await transport.send_bytes(chunk.to_bytes())
        else:
            resp = await (
                client.post(PLAIN_URL)
                .header("content-type", "application/json")
                .bearer_auth(UPSTREAM_KEY)
                .body_bytes(body)
                .build()
                .send()
            )
            data = await resp.bytes()
            proto.response_bytes(resp.status, JSON_HEADERS, data.to_bytes())


app = App()
