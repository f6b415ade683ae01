"""Which limits apply to a request, from the config: per key, tenant, user and model ("*" = each).

Limit sets are compiled once per (key, tenant, user, model) and cached, so the per-request cost is a
dict lookup. Costs are integer micro-USD: a price of P USD per million tokens is P micro-USD per token.
"""

from __future__ import annotations

from collections.abc import Iterable

from brutor.config import GatewayConfig, LimitValues, Price
from brutor.context import Principal
from brutor.limits.engine import RateLimiter
from brutor.limits.spec import LimitKind, LimitSet, LimitSpec

_CACHE_MAX = 65536
_KINDS: tuple[tuple[str, LimitKind, float], ...] = (
    ("rpm", LimitKind.RPM, 1),
    ("tpm", LimitKind.TPM, 1),
    ("concurrency", LimitKind.CONCURRENCY, 1),
    ("tokens_per_day", LimitKind.TOKENS_PER_DAY, 1),
    ("tokens_per_month", LimitKind.TOKENS_PER_MONTH, 1),
    ("cost_per_day_usd", LimitKind.COST_PER_DAY, 1_000_000),
    ("cost_per_month_usd", LimitKind.COST_PER_MONTH, 1_000_000),
)


def _specs(subject: str, values: LimitValues | None) -> Iterable[tuple[str, LimitSpec]]:
    if values is None:
        return
    for field, kind, scale in _KINDS:
        value = getattr(values, field)
        if value is not None:
            yield subject, LimitSpec(kind, max(1, round(value * scale)))


class LimitPolicy:
    def __init__(self, config: GatewayConfig) -> None:
        self._limits = config.limits
        self._keys = {k.id: k.limits for k in config.keys}
        self._prices: dict[str, Price] = {m.name: m.price for m in config.models if m.price is not None}
        self._cache: dict[tuple[str, str, str | None, str], LimitSet] = {}
        self.enabled = bool(
            any(v is not None for v in self._keys.values())
            or self._limits.tenants
            or self._limits.models
            or self._limits.users
        )

    def limits_for(self, principal: Principal, resource: str) -> LimitSet:
        cache_key = (principal.key_id, principal.tenant, principal.subject, resource)
        found = self._cache.get(cache_key)
        if found is None:
            found = self._compile(principal, resource)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[cache_key] = found
        return found

    def _compile(self, principal: Principal, resource: str) -> LimitSet:
        cfg = self._limits
        specs: list[tuple[str, LimitSpec]] = []
        specs += _specs(f"key:{principal.key_id}", self._keys.get(principal.key_id))
        specs += _specs(f"tenant:{principal.tenant}", cfg.tenants.get(principal.tenant, cfg.tenants.get("*")))
        specs += _specs(f"model:{resource}", cfg.models.get(resource, cfg.models.get("*")))
        if principal.subject is not None:
            specs += _specs(f"user:{principal.subject}", cfg.users.get(principal.subject, cfg.users.get("*")))
        return LimitSet(specs)

    def cost(self, resource: str, prompt_tokens: int, completion_tokens: int) -> int:
        """Micro-USD for the usage (0 for models without a price)."""
        price = self._prices.get(resource)
        if price is None:
            return 0
        return round(prompt_tokens * price.input + completion_tokens * price.output)


class Limits:
    """What the authorize stage and the return path share: the limiter, the policy saying which limits
    apply, and how large a reservation is."""

    def __init__(
        self, limiter: RateLimiter, policy: LimitPolicy, default_max_tokens: int, lease: float
    ) -> None:
        self.limiter = limiter
        self.policy = policy
        self.default_max_tokens = default_max_tokens
        self.lease = lease
