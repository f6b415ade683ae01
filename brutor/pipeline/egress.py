"""Return path: runs for every request — served, rejected, failed or cancelled — before the final byte.

In this issue: a structured access log (JSON lines) and per-tenant usage counters. Audit rows, traces and
metrics join here in later issues.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from brutor.context import RequestContext
from brutor.observability.accesslog import AccessLog
from brutor.observability.usage import UsageCounters


class ReturnPath:
    name = "egress"

    def __init__(self, access_log: AccessLog, usage: UsageCounters) -> None:
        self._log = access_log
        self._usage = usage
        # Settlements with a remote limiter in flight (kept referenced until done).
        self._pending: set[asyncio.Task[Any]] = set()

    def record(self, ctx: RequestContext) -> None:
        principal, call, usage = ctx.principal, ctx.call, ctx.usage
        if ctx.reservation is not None:
            self._settle(ctx)
        tenant = principal.tenant if principal is not None else None
        failed = ctx.status >= 400 or ctx.error_code is not None
        if tenant is not None:
            self._usage.add(tenant, usage.prompt_tokens, usage.completion_tokens, failed)
        if self._log.enabled:
            self._log.write(
                {
                    "ts": time.time(),
                    "request_id": ctx.request_id,
                    "tenant": tenant,
                    "key_id": principal.key_id if principal is not None else None,
                    "subject": principal.subject if principal is not None else None,
                    "target": call.target.value if call is not None else None,
                    "operation": call.operation if call is not None else None,
                    "model": call.resource if call is not None else None,
                    "deployment": ctx.deployment,
                    "stream": call.stream if call is not None else False,
                    "status": ctx.status,
                    "error_code": ctx.error_code,
                    "cache": ctx.cache_status,
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "usage_estimated": usage.estimated,
                    "duration_ms": round(ctx.elapsed_ms(), 3),
                    "ttft_ms": None if ctx.ttft_ms is None else round(ctx.ttft_ms, 3),
                    "client": ctx.client_addr,
                }
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
