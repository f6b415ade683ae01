"""Config reload without a restart, from either source: the config file or the config store.

Each worker watches the file (``ConfigWatcher``) and, with the postgres store, the database
(``brutor.store.watcher``). Either way the new effective config is ``overlay(file, snapshot)``, applied by
``refresh``. Applied live: tenants, keys (new, revoked, expired, allow/deny lists), JWT issuers,
entitlements, limit values and models. Needs a restart (logged, not applied): server, store and provider
settings, and the limiter's backend settings. An invalid new file changes nothing and is logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from brutor.assemble import Gateway, build_guard, build_limits, build_routes, listed_deployments, price_table
from brutor.config import ConfigError, GatewayConfig, LimitsConfig, load_config
from brutor.context import Target
from brutor.identity.jwt_auth import JwtAuthenticator
from brutor.identity.keysource import KeySourceError
from brutor.limits.policy import LimitPolicy, Limits
from brutor.pipeline.authorize import Authorize
from brutor.pipeline.call import LlmCaller
from brutor.pipeline.identify import Identify
from brutor.pipeline.route import ModelRouter
from brutor.store.snapshot import Snapshot, overlay

log = logging.getLogger("brutor.reload")


def _backend(cfg: LimitsConfig) -> tuple[object, ...]:
    return (cfg.backend, cfg.redis_url, cfg.timeout_ms, cfg.on_redis_error, cfg.local_share)


class ConfigWatcher:
    def __init__(self, path: str, gateway: Gateway, interval: float = 1.0) -> None:
        self._path = Path(path)
        self._gateway = gateway
        self._interval = interval
        self._seen = self._stamp()
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self._watch())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._interval)
            stamp = self._stamp()
            if stamp is None or stamp == self._seen:
                continue
            self._seen = stamp
            try:
                # Off the event loop: a JWKS URL may be fetched while the new issuers are built.
                new = await loop.run_in_executor(None, load_config, self._path)
                jwt = await loop.run_in_executor(None, self._jwt_for, new)
            except (ConfigError, KeySourceError) as exc:
                log.warning("config reload skipped, keeping the running config: %s", exc)
                continue
            await refresh(self._gateway, loop, base=new, jwt=jwt)

    def _jwt_for(self, new: GatewayConfig) -> JwtAuthenticator | None:
        if new.jwt == self._gateway.config.jwt:
            return self._gateway.jwt
        return JwtAuthenticator(new.jwt) if new.jwt.issuers else None


_UNSET = object()


async def refresh(
    gateway: Gateway,
    loop: asyncio.AbstractEventLoop,
    *,
    base: GatewayConfig | None = None,
    snapshot: Snapshot | None = None,
    jwt: JwtAuthenticator | object | None = _UNSET,
) -> None:
    """Apply a new config file (``base``, with its ``jwt``) or a new store ``snapshot``, one at a time."""
    async with gateway.reload_lock:
        current = gateway.snapshot
        if (
            base is None
            and snapshot is not None
            and current is not None
            and snapshot.version == current.version
        ):
            return  # already applied (the admin handler applies its own change before the notification)
        new_base = base if base is not None else gateway.base
        new_snapshot = snapshot if snapshot is not None else gateway.snapshot
        assert new_base is not None  # build_gateway sets it
        new_jwt = gateway.jwt if jwt is _UNSET else jwt
        assert new_jwt is None or isinstance(new_jwt, JwtAuthenticator)
        await apply(gateway, overlay(new_base, new_snapshot), new_jwt, loop)
        # Only what was applied becomes the base of later reloads.
        gateway.base, gateway.snapshot = new_base, new_snapshot


async def apply(
    gateway: Gateway, new: GatewayConfig, jwt: JwtAuthenticator | None, loop: asyncio.AbstractEventLoop
) -> None:
    old = gateway.config
    restart = [
        name for name in ("server", "store", "providers", "vault") if getattr(old, name) != getattr(new, name)
    ]
    if old.models != new.models or old.routing != new.routing:
        if "providers" in restart:
            restart.append("models")
        else:
            routes = build_routes(new, gateway.providers)
            gateway.pipeline.swap_route(Target.LLM, ModelRouter(routes), LlmCaller())
            gateway.deployments = listed_deployments(routes)
            gateway.pipeline.egress.cost = price_table(new)
    limits: Limits | None = gateway.limits
    policy = LimitPolicy(new)
    if not policy.enabled:
        limits = None
    elif limits is not None and _backend(old.limits) == _backend(new.limits):
        # Same limiter (its counters and held reservations stay valid); new values.
        limits = Limits(limits.limiter, policy, new.limits.default_max_tokens, new.limits.lease_seconds)
    elif limits is not None:
        restart.append("limits backend")
    else:
        limits = build_limits(new)
    pepper = new.server.key_pepper if "server" not in restart else old.server.key_pepper
    identify = Identify(new.keys, jwt, pepper.get_secret_value() if pepper is not None else None)
    authorize = Authorize(new.keys, new.jwt.issuers, limits, new.entitlements, new.tenants)
    gateway.pipeline.swap_access(identify, authorize)
    if old.guardrails != new.guardrails:
        gateway.pipeline.swap_guard(build_guard(new))
    if jwt is not gateway.jwt:
        if jwt is not None:
            jwt.start(loop)
        if gateway.jwt is not None:
            await gateway.jwt.aclose()
    gateway.identify, gateway.authorize, gateway.jwt, gateway.limits = identify, authorize, jwt, limits
    # Later comparisons are against what is running: sections that need a restart keep their old value.
    kept = ["server", "store", "providers", "vault"]
    kept += (["models"] if "models" in restart else []) + (["limits"] if "limits backend" in restart else [])
    gateway.config = new.model_copy(update={name: getattr(old, name) for name in kept})
    log.warning(
        "config reloaded: tenants, keys, issuers, entitlements, limits, guardrails and models applied%s",
        f"; restart needed for: {', '.join(restart)}" if restart else "",
    )
