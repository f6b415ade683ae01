"""Guard: the tenant's guardrail policy on the request (and, armed here, on the answer).

After authorize (no scanning for callers who are refused anyway) and before the cache (a blocked prompt
never reaches it, and what it keys and stores is the redacted prompt). In order: input size limits
(cheap, before any scan), one native scan per text slot (PII, deny words, custom patterns and
prompt-injection phrasing at once), then the optional external callout on the redacted texts.
"""

from __future__ import annotations

from typing import Any

from brutor._native import PiiScanner
from brutor.context import RequestContext
from brutor.errors import GatewayError, internal_error
from brutor.guardrails.decisions import add_counts, blocked
from brutor.guardrails.policy import Guardrails
from brutor.guardrails.response import OutputGuard
from brutor.guardrails.texts import Slot, request_slots
from brutor.pipeline.reply import Reply


def _too_large(what: str, limit: int) -> GatewayError:
    return GatewayError(
        400, f"The input is larger than this tenant allows ({what} > {limit}).", code="input_too_large"
    )


def _scan(scanner: PiiScanner, actions: dict[str, str], slots: list[Slot]) -> tuple[dict[str, int], set[str]]:
    """One native call per text; redacted texts replace the originals in the body."""
    counts: dict[str, int] = {}
    stopped: set[str] = set()
    for holder, key in slots:
        text = holder[key]
        if not text:
            continue
        result = scanner.redact(text, actions)
        if result.counts:
            for kind, n in result.counts.items():
                counts[kind] = counts.get(kind, 0) + n
            holder[key] = result.text
        stopped.update(result.blocked)
    return counts, stopped


class Guard:
    name = "guard"

    def __init__(self, rails: Guardrails) -> None:
        self._rails = rails

    async def __call__(self, ctx: RequestContext) -> Reply | None:
        principal, call = ctx.principal, ctx.call
        if principal is None or call is None:
            raise internal_error()
        policy = self._rails.for_tenant(principal.tenant)
        if policy is None:
            return None
        if policy.max_input_tokens is not None and call.prompt_estimate > policy.max_input_tokens:
            raise _too_large("tokens", policy.max_input_tokens)
        slots = request_slots(call.operation, call.payload)
        if policy.max_input_chars is not None:
            chars = sum(len(holder[key]) for holder, key in slots)
            if chars > policy.max_input_chars:
                raise _too_large("characters", policy.max_input_chars)
        entries: list[dict[str, Any]] = []
        if policy.scans_request:
            assert policy.scanner is not None
            counts, stopped = _scan(policy.scanner, policy.request_actions, slots)
            if counts:
                add_counts(entries, "request", counts, policy.request_actions)
                ctx.guardrails = entries
            if stopped:
                raise blocked(stopped, stage="request")
        if policy.external is not None:
            await self._external(ctx, policy.external, [holder[key] for holder, key in slots], entries)
        if policy.response_actions is not None and policy.scanner is not None:
            ctx.output_guard = OutputGuard(policy.scanner, policy.response_actions)
        return None

    async def _external(
        self, ctx: RequestContext, check: Any, texts: list[str], entries: list[dict[str, Any]]
    ) -> None:
        assert ctx.principal is not None and ctx.call is not None
        action, reason = await check.check(ctx.principal.tenant, ctx.call.resource, texts)
        entry: dict[str, Any] = {"stage": "external", "action": action, "types": {}}
        if reason:
            # The service's own words, bounded: they go to the audit record, not to the client.
            entry["reason"] = reason[:200]
        entries.append(entry)
        ctx.guardrails = entries
        if action == "block":
            raise GatewayError(
                400, "The request was blocked by the content policy.", code="content_policy_violation"
            )
        if action == "error" and check.fail_closed:
            raise GatewayError(
                503,
                "The content policy service is unavailable; try again.",
                type="api_error",
                code="guardrail_unavailable",
            )
