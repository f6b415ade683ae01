"""The optional external guardrail: one HTTP call per request with the texts the model would see.

The service answers ``{"action": "allow" | "block", "reason": "…"}``. A timeout, a transport error or an
unusable answer follows ``on_error``: fail_closed refuses the request (503), fail_open lets it through;
either way it is recorded in the request's guardrail decisions.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import orjson

from brutor.guardrails.config import ExternalGuardrail

log = logging.getLogger("brutor.guardrails")


class ExternalCheck:
    def __init__(self, cfg: ExternalGuardrail) -> None:
        self._cfg = cfg
        self._client: Any = None
        self.fail_closed = cfg.on_error == "fail_closed"

    def _get_client(self) -> Any:
        # Built on first use, in the worker (a Tokio runtime must not exist before granian forks).
        if self._client is None:
            from pyreqwest.client import ClientBuilder

            headers = {"content-type": "application/json"}
            headers.update({k: v.get_secret_value() for k, v in self._cfg.headers.items()})
            self._client = ClientBuilder().default_headers(headers).build()
        return self._client

    async def check(self, tenant: str, model: str, texts: list[str]) -> tuple[str, str | None]:
        """("allow" | "block" | "error", reason)."""
        body = orjson.dumps({"tenant": tenant, "model": model, "texts": texts})
        try:
            request = (
                self._get_client()
                .post(self._cfg.url)
                .body_bytes(body)
                .timeout(timedelta(milliseconds=self._cfg.timeout_ms))
                .build()
            )
            response = await request.send()
            raw = (await response.bytes()).to_bytes()
        except Exception as exc:
            log.warning("external guardrail unreachable: %s", type(exc).__name__)
            return "error", type(exc).__name__
        if response.status != 200:
            log.warning("external guardrail answered %d", response.status)
            return "error", f"status {response.status}"
        try:
            doc = orjson.loads(raw)
            action = doc["action"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return "error", "unusable answer"
        if action not in ("allow", "block"):
            return "error", "unusable answer"
        reason = doc.get("reason")
        return action, reason if isinstance(reason, str) else None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
