"""Return path: runs for every request — served, rejected, failed or cancelled — before the final byte.

In this issue: a structured access log (JSON lines) and per-tenant usage counters. Audit rows, traces and
metrics join here in later issues.
"""

from __future__ import annotations

import time

from brutor.context import RequestContext
from brutor.observability.accesslog import AccessLog
from brutor.observability.usage import UsageCounters


class ReturnPath:
    name = "egress"

    def __init__(self, access_log: AccessLog, usage: UsageCounters) -> None:
        self._log = access_log
        self._usage = usage

    def record(self, ctx: RequestContext) -> None:
        principal, call, usage = ctx.principal, ctx.call, ctx.usage
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
