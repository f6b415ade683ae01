"""A faithful local stand-in for HashiCorp Vault's KV version 2 HTTP API (the parts Brutor uses).

``GET /v1/<mount>/data/<path>`` with ``X-Vault-Token`` answers the latest version as Vault does
(``{"data": {"data": {...}, "metadata": {...}}}``); a wrong token is 403 ``{"errors": ["permission
denied"]}``, a missing secret 404 ``{"errors": []}``. ``put`` writes a new version (rotation).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class VaultKv2:
    def __init__(self, token: str, mount: str = "secret") -> None:
        self.token = token
        self.mount = mount
        self.secrets: dict[str, list[dict[str, Any]]] = {}
        self.reads = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.reads += 1
                if self.headers.get("X-Vault-Token") != outer.token:
                    self._send(403, {"errors": ["permission denied"]})
                    return
                prefix = f"/v1/{outer.mount}/data/"
                path = self.path.split("?", 1)[0]
                versions = outer.secrets.get(path[len(prefix) :]) if path.startswith(prefix) else None
                if not versions:
                    self._send(404, {"errors": []})
                    return
                latest = versions[-1]
                self._send(
                    200,
                    {
                        "request_id": "r",
                        "lease_id": "",
                        "renewable": False,
                        "lease_duration": 0,
                        "data": latest,
                        "wrap_info": None,
                        "warnings": None,
                        "auth": None,
                    },
                )

            def _send(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, path: str, data: dict[str, str]) -> None:
        versions = self.secrets.setdefault(path, [])
        versions.append(
            {
                "data": dict(data),
                "metadata": {
                    "created_time": datetime.now(UTC).isoformat(),
                    "custom_metadata": None,
                    "deletion_time": "",
                    "destroyed": False,
                    "version": len(versions) + 1,
                },
            }
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
