"""Which deployments a request tries, in order: the strategy's pick first, then the others as fallbacks.

Ejected deployments go last rather than nowhere: when every deployment of an alias is ejected, trying
them anyway (within max_attempts) beats refusing the request outright during a brief outage."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from brutor.routing.config import RoutingConfig, Transforms
from brutor.routing.health import Health

if TYPE_CHECKING:
    # Typing only: providers import the pipeline's reply types, and the pipeline imports this module.
    from brutor.providers.base import Deployment


@dataclass(slots=True)
class Target:
    deployment: Deployment
    health: Health
    weight: float
    transforms: Transforms


@dataclass(slots=True)
class Route:
    """One model alias: its deployments (with health), routing policy and the alias's transforms."""

    name: str
    kind: str
    targets: list[Target]
    policy: RoutingConfig
    transforms: Transforms

    def order(self, rng: random.Random) -> list[Target]:
        targets = self.targets
        if len(targets) == 1:
            return list(targets)
        healthy = [t for t in targets if t.health.admits_peek()]
        rest = [t for t in targets if t not in healthy]
        strategy = self.policy.strategy
        if strategy == "least_busy":
            healthy.sort(key=lambda t: (t.health.inflight, -t.weight))
        elif strategy == "latency":
            # Unknown latency first (so every deployment gets measured), then the fastest.
            healthy.sort(key=lambda t: (t.health.ewma_ms is not None, t.health.ewma_ms or 0.0))
        else:
            healthy = _weighted_order(healthy, rng)
        return healthy + rest


def _weighted_order(targets: Sequence[Target], rng: random.Random) -> list[Target]:
    """A weighted random permutation (Efraimidis-Spirakis keys): the first is picked with probability
    proportional to its weight, and so on for the fallbacks."""
    keyed = [(rng.random() ** (1.0 / t.weight), i) for i, t in enumerate(targets)]
    keyed.sort(reverse=True)
    return [targets[i] for _, i in keyed]
