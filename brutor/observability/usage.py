"""Per-tenant usage counters of this worker process (durable usage rows arrive with the audit issue)."""

from __future__ import annotations


class UsageCounters:
    def __init__(self) -> None:
        # tenant -> [requests, prompt_tokens, completion_tokens, errors]
        self._by_tenant: dict[str, list[int]] = {}

    def add(self, tenant: str, prompt_tokens: int, completion_tokens: int, failed: bool) -> None:
        row = self._by_tenant.get(tenant)
        if row is None:
            row = self._by_tenant[tenant] = [0, 0, 0, 0]
        row[0] += 1
        row[1] += prompt_tokens
        row[2] += completion_tokens
        if failed:
            row[3] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {
            tenant: {"requests": r[0], "prompt_tokens": r[1], "completion_tokens": r[2], "errors": r[3]}
            for tenant, r in self._by_tenant.items()
        }
