"""Authorize: may this principal use the requested resource, and is there room in its limits?

1. A per-key (or per-issuer) allow-list of resource names with ``*`` wildcards (``openai/*``).
2. Rate limits and quotas (``brutor.limits``): every limit that applies to the key, tenant, user and
   model is reserved at once before the call; the return path settles with the real usage.

The resource is target-neutral (model, ``server/tool``, ``skill@version`` or agent) and token estimates
come from the target's decoder, so this stage serves every target.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from brutor.config import Entitlement, EntitlementsConfig, JwtIssuerConfig, KeyConfig, TenantConfig
from brutor.context import Principal, RequestContext
from brutor.errors import GatewayError, forbidden, internal_error
from brutor.limits import rate_limit_headers, retry_headers
from brutor.limits.decision import BUDGET_EXCEEDED, TOO_LARGE, UNAVAILABLE, Decision, Denial
from brutor.limits.policy import Limits
from brutor.pipeline.reply import Reply

Matcher = Callable[[str], bool]


def compile_allow_list(patterns: Iterable[str]) -> Matcher:
    """One compiled test for a list of names and ``*`` patterns (``[`` and ``?`` are literal)."""
    exact: set[str] = set()
    wild: list[str] = []
    for p in patterns:
        if p == "*":
            return lambda _name: True
        if "*" in p:
            wild.append(re.escape(p).replace(r"\*", ".*"))
        else:
            exact.add(p)
    if not wild:
        return exact.__contains__
    rx = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL)

    def allowed(name: str) -> bool:
        return name in exact or rx.fullmatch(name) is not None

    return allowed


class Authorize:
    name = "authorize"

    def __init__(
        self,
        keys: Iterable[KeyConfig],
        issuers: Iterable[JwtIssuerConfig] = (),
        limits: Limits | None = None,
        entitlements: EntitlementsConfig | None = None,
        tenants: Iterable[TenantConfig] = (),
    ) -> None:
        # JWT principals carry key_id "jwt:<issuer name>" (see brutor.identity.jwt_auth).
        lists = [(k.id, k.models, k.deny) for k in keys] + [
            (f"jwt:{i.name}", i.models, i.deny) for i in issuers
        ]
        self._allow = {kid: compile_allow_list(allow) for kid, allow, _ in lists}
        self._deny = {kid: compile_allow_list(deny) for kid, _, deny in lists if deny}
        ent = entitlements or EntitlementsConfig()
        self._tenants = {t: _Rule.of(e) for t, e in ent.tenants.items()}
        self._groups = {g: _Rule.of(e) for g, e in ent.groups.items()}
        self._limits = limits
        self._disabled = frozenset(t.id for t in tenants if t.disabled)

    def permits(self, principal: Principal, resource: str) -> bool:
        """Deny wins (key, tenant, any group); then the key's allow-list, the tenant's allow-list if it
        has one, and — when the principal's groups have allow-lists — at least one of them."""
        allow = self._allow.get(principal.key_id)
        if allow is None or not allow(resource):
            return False
        deny = self._deny.get(principal.key_id)
        if deny is not None and deny(resource):
            return False
        tenant = self._tenants.get(principal.tenant)
        if tenant is not None and not tenant.permits(resource):
            return False
        if not self._groups or not principal.groups:
            return True
        rules = [r for g in principal.groups if (r := self._groups.get(g)) is not None]
        if any(r.deny is not None and r.deny(resource) for r in rules):
            return False
        allowing = [r.allow for r in rules if r.allow is not None]
        return not allowing or any(a(resource) for a in allowing)

    async def __call__(self, ctx: RequestContext) -> Reply | None:
        principal, call = ctx.principal, ctx.call
        if principal is None or call is None:
            # The pipeline order guarantees both; failing closed if it is ever broken.
            raise internal_error()
        if self._disabled and principal.tenant in self._disabled:
            raise forbidden(f"Tenant '{principal.tenant}' is disabled.", code="tenant_disabled")
        if not self.permits(principal, call.resource):
            raise forbidden(f"This credential is not allowed to use '{call.resource}'.")
        limits = self._limits
        if limits is None:
            return None
        limit_set = limits.policy.limits_for(principal, call.resource)
        if not limit_set.entries:
            return None
        output = call.max_output if call.max_output is not None else limits.default_max_tokens
        decision = await limits.limiter.reserve(
            limit_set,
            tokens=call.prompt_estimate + output,
            cost=limits.policy.cost(call.resource, call.prompt_estimate, output),
            lease=limits.lease,
        )
        if decision.denial is not None:
            raise _denied(decision, decision.denial)
        # Settled by the limiter that made it, even if a config reload swaps the limits meanwhile.
        ctx.reservation = (limits, decision.reservation)
        ctx.response_headers = rate_limit_headers(decision)
        return None


def _denied(decision: Decision, denial: Denial) -> GatewayError:
    headers = (*rate_limit_headers(decision), *retry_headers(denial))
    if denial.code == UNAVAILABLE:
        return GatewayError(503, denial.message(), type="api_error", code=denial.code, headers=headers)
    if denial.code == TOO_LARGE:
        # Waiting cannot help: a 429 would make SDKs retry forever.
        return GatewayError(400, denial.message(), code="tokens_exceed_limit", headers=headers)
    # OpenAI's code for an exhausted budget is "insufficient_quota"; SDKs stop retrying on it.
    code = "insufficient_quota" if denial.code == BUDGET_EXCEEDED else "rate_limit_exceeded"
    return GatewayError(429, denial.message(), type="rate_limit_error", code=code, headers=headers)


class _Rule:
    __slots__ = ("allow", "deny")

    def __init__(self, allow: Matcher | None, deny: Matcher | None) -> None:
        self.allow = allow
        self.deny = deny

    @classmethod
    def of(cls, entitlement: Entitlement) -> _Rule:
        allow = compile_allow_list(entitlement.allow) if entitlement.allow is not None else None
        deny = compile_allow_list(entitlement.deny) if entitlement.deny else None
        return cls(allow, deny)

    def permits(self, resource: str) -> bool:
        if self.deny is not None and self.deny(resource):
            return False
        return self.allow is None or self.allow(resource)
