"""Builds everything a worker needs, once, from a validated config: providers, stages, the pipeline.

Dependencies are created here and passed in; no module keeps mutable state of its own.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from brutor.config import GatewayConfig, ProviderConfig
from brutor.context import Target
from brutor.credentials import Credentials, with_live_secrets
from brutor.guardrails.policy import Guardrails
from brutor.identity.jwt_auth import JwtAuthenticator
from brutor.limits import MemoryBackend, RateLimiter
from brutor.limits.policy import LimitPolicy, Limits
from brutor.observability.accesslog import AccessLog
from brutor.pipeline import Pipeline
from brutor.pipeline.authorize import Authorize
from brutor.pipeline.cache import DisabledCache
from brutor.pipeline.call import LlmCaller
from brutor.pipeline.egress import CostFn, ReturnPath
from brutor.pipeline.guard import Guard
from brutor.pipeline.identify import Identify
from brutor.pipeline.route import ModelRouter
from brutor.providers.base import Deployment, Provider
from brutor.providers.offline import OfflineProvider
from brutor.routing.health import Health
from brutor.routing.plan import Route
from brutor.routing.plan import Target as RouteTarget

if TYPE_CHECKING:
    from brutor.audit.trail import AuditTrail
    from brutor.cache.embedding import CacheEmbedder
    from brutor.cache.stage import CacheStage
    from brutor.observability.metrics import Metrics
    from brutor.observability.tracing import Tracing
    from brutor.store.postgres import PgConfigStore
    from brutor.store.snapshot import Snapshot


@dataclass(slots=True)
class Gateway:
    config: GatewayConfig
    pipeline: Pipeline
    identify: Identify
    authorize: Authorize
    deployments: dict[str, Deployment]
    providers: dict[str, Provider]
    access_log: AccessLog
    jwt: JwtAuthenticator | None
    limits: Limits | None
    # The config file as loaded (``config`` is it overlaid with the store's snapshot, when there is one).
    base: GatewayConfig | None = None
    snapshot: Snapshot | None = None
    store: PgConfigStore | None = None
    audit: AuditTrail | None = None
    metrics: Metrics | None = None
    tracing: Tracing | None = None
    credentials: Credentials | None = None
    # The cache stage, when enabled (the admin API invalidates through it).
    cache: CacheStage | None = None
    # Serializes reloads from the two sources (file watcher, store watcher).
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def aclose(self) -> None:
        if self.cache is not None:
            await self.cache.aclose()
        if self.jwt is not None:
            await self.jwt.aclose()
        if self.limits is not None:
            # Flushes settlements still queued on the shared limiter's connection.
            await self.limits.limiter.aclose()
        if self.store is not None:
            await self.store.aclose()
        if self.audit is not None:
            await self.audit.aclose()
        if self.metrics is not None:
            await self.metrics.aclose()
        if self.tracing is not None:
            self.tracing.shutdown()
        if self.credentials is not None:
            await self.credentials.aclose()
        for provider in self.providers.values():
            await provider.aclose()
        self.access_log.close()


# One module per provider type, imported only when a provider of that type is configured (the
# offline-only default start-up loads no HTTP stack).
_PROVIDER_CLASSES = {
    "openai": ("brutor.providers.openai", "OpenAIProvider"),
    "anthropic": ("brutor.providers.anthropic", "AnthropicProvider"),
    "bedrock": ("brutor.providers.bedrock", "BedrockProvider"),
    "vertex": ("brutor.providers.vertex", "VertexProvider"),
    "azure": ("brutor.providers.azure", "AzureOpenAIProvider"),
    "mistral": ("brutor.providers.mistral", "MistralProvider"),
}


def build_provider(cfg: ProviderConfig, credentials: Credentials | None = None) -> Provider:
    if cfg.type == "offline":
        return OfflineProvider(cfg.name)
    if credentials is not None:
        cfg = with_live_secrets(cfg, credentials)
    module, cls = _PROVIDER_CLASSES[cfg.type]
    provider: Provider = getattr(importlib.import_module(module), cls)(cfg)
    return provider


def build_limits(config: GatewayConfig) -> Limits | None:
    """The rate limiter, or None when no limit is configured (then authorize skips it entirely)."""
    policy = LimitPolicy(config)
    if not policy.enabled:
        return None
    cfg = config.limits
    shared = None
    if cfg.backend == "redis":
        # Imported only when used: the embedded default never loads the Redis client.
        from brutor.limits.redis_backend import RedisBackend, connect

        shared = RedisBackend(connect(cfg.redis_url, timeout=cfg.timeout_ms / 1000))
    limiter = RateLimiter(
        MemoryBackend(share=cfg.local_share),
        shared,
        policy=cfg.on_redis_error,
        timeout=cfg.timeout_ms / 1000,
    )
    return Limits(limiter, policy, cfg.default_max_tokens, cfg.lease_seconds)


def build_routes(config: GatewayConfig, providers: dict[str, Provider]) -> dict[str, Route]:
    """Every alias with its deployments (fresh health: breakers start closed after a reload)."""
    routes = {}
    for m in config.models:
        policy = m.routing or config.routing
        targets = [
            RouteTarget(
                Deployment(
                    m.name,
                    m.type,
                    d.upstream_model or m.name,
                    providers[d.provider],
                    key=f"{d.provider}/{d.upstream_model or m.name}",
                ),
                Health(policy.breaker),
                d.weight,
                d.transforms,
            )
            for d in m.effective_deployments
        ]
        routes[m.name] = Route(m.name, m.type, targets, policy, m.transforms)
    return routes


def listed_deployments(routes: dict[str, Route]) -> dict[str, Deployment]:
    """For /v1/models: each alias with its first deployment (its provider names ``owned_by``)."""
    return {name: r.targets[0].deployment for name, r in routes.items()}


def price_table(config: GatewayConfig) -> CostFn:
    """USD for a request's usage, from ``models[].price`` (USD per million tokens)."""
    prices = {
        m.name: (m.price.input / 1e6, m.price.output / 1e6) for m in config.models if m.price is not None
    }

    def cost(resource: str, prompt_tokens: int, completion_tokens: int) -> float:
        price = prices.get(resource)
        return 0.0 if price is None else prompt_tokens * price[0] + completion_tokens * price[1]

    return cost


def build_guard(config: GatewayConfig) -> Guard | None:
    """The guardrail stage, or None when no tenant has a policy (then the pipeline skips it)."""
    rails = Guardrails(config.guardrails)
    return Guard(rails) if rails.active else None


def build_gateway(config: GatewayConfig) -> Gateway:
    credentials = Credentials(config.vault)
    providers = {p.name: build_provider(p, credentials) for p in config.providers}
    routes = build_routes(config, providers)
    deployments = listed_deployments(routes)
    access_log = AccessLog(config.server.access_log)
    jwt = JwtAuthenticator(config.jwt) if config.jwt.issuers else None
    pepper = config.server.key_pepper
    identify = Identify(config.keys, jwt, pepper.get_secret_value() if pepper is not None else None)
    limits = build_limits(config)
    authorize = Authorize(config.keys, config.jwt.issuers, limits, config.entitlements, config.tenants)
    pipeline = Pipeline(
        identify=identify,
        authorize=authorize,
        guard=build_guard(config),
        cache=DisabledCache(),
        targets={Target.LLM: (ModelRouter(routes), LlmCaller())},
        egress=ReturnPath(access_log, cost=price_table(config)),
    )
    return Gateway(
        config,
        pipeline,
        identify,
        authorize,
        deployments,
        providers,
        access_log,
        jwt,
        limits,
        base=config,
        credentials=credentials,
    )


def attach_observability(gateway: Gateway, data_dir: Path, worker_id: str) -> None:
    """Audit trail, metrics and tracing for a serving worker (unit tests build gateways without them)."""
    config = gateway.config
    egress = gateway.pipeline.egress
    if config.metrics.enabled:
        from brutor.observability.metrics import Metrics

        gateway.metrics = egress.metrics = Metrics(
            data_dir / "metrics", worker_id, flush_interval=config.metrics.flush_seconds
        )
    from brutor.audit.trail import AuditTrail, build_sink

    sink = build_sink(config, data_dir)
    if sink is not None:
        gateway.audit = egress.audit = AuditTrail(config, data_dir, sink, gateway.metrics)
    t = config.tracing
    if t.enabled:
        from brutor.observability.tracing import Tracing

        gateway.tracing = egress.tracing = Tracing(
            enabled=True,
            sample_ratio=t.sample_ratio,
            exporter=t.exporter,
            endpoint=t.endpoint,
            headers={k: v.get_secret_value() for k, v in t.headers.items()},
            service_name=t.service_name,
        )


def start_observability(gateway: Gateway, loop: asyncio.AbstractEventLoop) -> None:
    if gateway.credentials is not None:
        gateway.credentials.start(loop)
    if gateway.metrics is not None:
        gateway.metrics.start(loop)
    if gateway.audit is not None:
        gateway.audit.start(loop)


def attach_cache(gateway: Gateway, data_dir: Path, loop: asyncio.AbstractEventLoop) -> None:
    """The cache stage for a serving worker, when enabled (stores and the embedder built here, in the
    worker: onnxruntime sessions and client connections must not cross granian's fork)."""
    cfg = gateway.config.cache
    if not cfg.enabled:
        return
    from brutor.cache.entries import Entries, MemoryEntries
    from brutor.cache.index import MemoryIndex, VectorIndex
    from brutor.cache.journal import Journal
    from brutor.cache.stage import CacheStage

    entries: Entries
    if cfg.entries == "redis":
        from brutor.cache.redis_entries import RedisEntries
        from brutor.limits.redis_client import RedisClient

        entries = RedisEntries(RedisClient(cfg.redis_url, timeout=0.2))
    else:
        entries = MemoryEntries(cfg.max_entries)
    index: VectorIndex | None = None
    embedder: CacheEmbedder | None = None
    if cfg.semantic:
        embedder = _cache_embedder(gateway, data_dir)
        if cfg.index == "qdrant" and cfg.qdrant_url:
            from qdrant_client import AsyncQdrantClient

            from brutor.cache.qdrant_index import QdrantIndex

            index = QdrantIndex(AsyncQdrantClient(url=cfg.qdrant_url))
        else:
            index = MemoryIndex(cfg.max_entries)
    # Per-process entries: admin invalidations reach this host's other workers through the journal.
    journal = Journal(data_dir / "cache" / "invalidations.jsonl") if cfg.entries == "memory" else None
    gateway.cache = CacheStage(cfg, entries, index, embedder, metrics=gateway.metrics, journal=journal)
    gateway.cache.start(loop)
    gateway.pipeline.swap_cache(gateway.cache)


def _cache_embedder(gateway: Gateway, data_dir: Path) -> CacheEmbedder:
    cfg = gateway.config.cache
    if cfg.embedder == "route":
        from brutor.cache.embedding import RouteEmbedding

        assert cfg.embedding_model is not None  # config validation
        return RouteEmbedding(
            gateway.pipeline,
            gateway.pipeline.egress,
            cfg.embedding_model,
            timeout=cfg.embedding_timeout_seconds,
            max_chars=cfg.embedding_max_chars,
        )
    from brutor.cache.embedding import LocalEmbedding
    from brutor.embed.embedder import Embedder

    return LocalEmbedding(Embedder.load(data_dir / "models"))
