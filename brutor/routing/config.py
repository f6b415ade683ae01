"""Routing config: deployments behind a model alias, how one is picked, retries, breakers, transforms."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from brutor.config_model import ConfigModel


class Transforms(ConfigModel):
    """Changes to the OpenAI-format request before it is translated for a provider."""

    # Parameters set when the client did not send them, and parameters always set.
    defaults: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Any] = Field(default_factory=dict)
    # Parameters removed (e.g. ones a provider rejects).
    drop: tuple[str, ...] = ()
    # Extra headers on the upstream request (never secrets here: use the provider's credentials).
    headers: dict[str, str] = Field(default_factory=dict)
    # Text put before the system prompt (a system message is added when there is none).
    system_prefix: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.defaults or self.overrides or self.drop or self.headers or self.system_prefix)


class DeploymentConfig(ConfigModel):
    provider: str
    upstream_model: str | None = None
    weight: float = Field(1.0, gt=0, le=1_000_000)
    # Applied after the model's own transforms, for this deployment only (e.g. drop unsupported params).
    transforms: Transforms = Transforms()


class BreakerConfig(ConfigModel):
    # Consecutive failures (5xx, 429, timeouts, connect errors) that eject a deployment.
    failures: int = Field(5, ge=1, le=1000)
    # First ejection; each further one doubles it, up to max_open_seconds.
    open_seconds: float = Field(10.0, gt=0, le=3600)
    max_open_seconds: float = Field(300.0, gt=0, le=86400)


class RoutingConfig(ConfigModel):
    strategy: Literal["weighted", "least_busy", "latency"] = "weighted"
    # Attempts per request, the first included. Default: each deployment once (the client's SDK retries
    # on its own — OpenAI's retries twice — so a single-deployment alias is not retried here unless asked).
    max_attempts: int | None = Field(None, ge=1, le=10)
    backoff_ms: int = Field(100, ge=0, le=60_000)
    max_backoff_ms: int = Field(2000, ge=0, le=600_000)
    # A Retry-After longer than this is not waited for: the next deployment is tried, or the error returned.
    max_retry_after_ms: int = Field(5000, ge=0, le=600_000)
    breaker: BreakerConfig = BreakerConfig()
