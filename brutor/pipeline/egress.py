"""Return path: runs for every request — served, rejected, failed or cancelled — before the final byte.

It settles the rate-limit reservation with the real usage, builds the request's ``AuditRecord`` and hands
it to the audit trail (spooled durably before the client sees the last byte), the metrics, the access log
and, after the reply, to tracing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from brutor.audit.record import AuditRecord
from brutor.context import RequestContext
from brutor.observability.accesslog import AccessLog

if TYPE_CHECKING:
    from brutor.audit.trail import AuditTrail
    from brutor.observability.metrics import Metrics
    from brutor.observability.tracing import Tracing

# USD for (resource, prompt tokens, completion tokens).
CostFn = Callable[[str, int, int], float]


def _no_cost(_resource: str, _prompt: int, _completion: int) -> float:
    return 0.0


class ReturnPath:
    name = "egress"

    def __init__(
        self,
        access_log: AccessLog,
        audit: AuditTrail | None = None,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
        cost: CostFn = _no_cost,
    ) -> None:
        self._log = access_log
        self.audit = audit
        self.metrics = metrics
        self.tracing = tracing
        self.cost = cost
        # Settlements with a remote limiter in flight (kept referenced until done).
        self._pending: set[asyncio.Task[Any]] = set()

    def record(self, ctx: RequestContext) -> AuditRecord:
        if ctx.reservation is not None:
            self._settle(ctx)
        rec = self._audit_record(ctx)
        if self.audit is not None:
            self.audit.append(rec)
        if self.metrics is not None:
            self.metrics.observe(rec)
        if self._log.enabled:
            self._log.write(_access_line(rec))
        if ctx.trace is not None and self.tracing is not None:
            # Spans are built after the reply is on its way: tracing never delays the final byte.
            start_ns = int(ctx.started_wall * 1e9)
            asyncio.get_running_loop().call_soon(self.tracing.finish, ctx.trace, rec, start_ns)
        return rec

    def _audit_record(self, ctx: RequestContext) -> AuditRecord:
        principal, call, usage = ctx.principal, ctx.call, ctx.usage
        resource = call.resource if call is not None else None
        saved, saved_cost = 0, 0.0
        if ctx.cache_saved is not None and resource:
            saved_prompt, saved_completion = ctx.cache_saved
            saved, saved_cost = (
                saved_prompt + saved_completion,
                self.cost(resource, saved_prompt, saved_completion),
            )
        return AuditRecord(
            request_id=ctx.request_id,
            client_request_id=ctx.client_request_id,
            trace_id=ctx.trace.trace_id_hex if ctx.trace is not None else None,
            started_at=ctx.started_wall,
            duration_ms=ctx.elapsed_ms(),
            tenant=_clean(principal.tenant) if principal is not None else None,
            key_id=principal.key_id if principal is not None else None,
            subject=_clean(principal.subject) if principal is not None else None,
            target=call.target.value if call is not None else None,
            operation=call.operation if call is not None else None,
            resource=_clean(resource),
            deployment=ctx.deployment,
            stream=call.stream if call is not None else False,
            status=ctx.status,
            error_code=ctx.error_code,
            cache_status=ctx.cache_status,
            stage_ms=ctx.stage_ms,
            ttft_ms=ctx.ttft_ms,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            usage_estimated=usage.estimated,
            cost_usd=self.cost(resource, usage.prompt_tokens, usage.completion_tokens) if resource else 0.0,
            guardrails=ctx.guardrails,
            client=ctx.client_addr,
            saved_tokens=saved,
            saved_cost_usd=saved_cost,
        )

    def _settle(self, ctx: RequestContext) -> None:
        """Give back what the reservation over-estimated (or charge the overage); on every path, also
        a rejection after authorize or a client that went away mid-stream."""
        (limits, reservation), ctx.reservation = ctx.reservation, None
        if ctx.call is None:
            return
        usage = ctx.usage
        tokens = usage.prompt_tokens + usage.completion_tokens
        cost = limits.policy.cost(ctx.call.resource, usage.prompt_tokens, usage.completion_tokens)
        if limits.limiter.settle_now(reservation, tokens=tokens, cost=cost):
            return
        task = asyncio.get_running_loop().create_task(
            limits.limiter.reconcile(reservation, tokens=tokens, cost=cost)
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


def _clean(value: str | None) -> str | None:
    """Client-controlled text (model names, token claims) without NUL, which PostgreSQL text refuses:
    one such row must never stall the audit writer."""
    if value is None or "\x00" not in value:
        return value
    return value.replace("\x00", "")


def _access_line(rec: AuditRecord) -> dict[str, Any]:
    return {
        "ts": time.time(),
        "request_id": rec.request_id,
        "client_request_id": rec.client_request_id,
        "trace_id": rec.trace_id,
        "tenant": rec.tenant,
        "key_id": rec.key_id,
        "subject": rec.subject,
        "target": rec.target,
        "operation": rec.operation,
        "model": rec.resource,
        "deployment": rec.deployment,
        "stream": rec.stream,
        "status": rec.status,
        "error_code": rec.error_code,
        "cache": rec.cache_status,
        "prompt_tokens": rec.prompt_tokens,
        "completion_tokens": rec.completion_tokens,
        "usage_estimated": rec.usage_estimated,
        "cost_usd": rec.cost_usd,
        "saved_tokens": rec.saved_tokens,
        "duration_ms": round(rec.duration_ms, 3),
        "ttft_ms": None if rec.ttft_ms is None else round(rec.ttft_ms, 3),
        "client": rec.client,
    }
