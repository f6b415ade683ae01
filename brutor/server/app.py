"""The RSGI application granian serves: path dispatch, then the pipeline for governed calls.

RSGI rather than ASGI: with the same Rust-backed upstream client it measured ~1.4x the throughput here
(see ../shared/design/PERFORMANCE.md and bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brutor.api.openai_api import decode_chat, decode_embeddings, model_entry
from brutor.assemble import Gateway, build_gateway
from brutor.config import GatewayConfig, default_config, load_config
from brutor.context import Call, RequestContext, Target
from brutor.errors import GatewayError, internal_error, not_found, unauthorized
from brutor.pipeline.reply import Reply, StreamReply, error_reply, json_reply
from brutor.server.ids import RequestIds, client_request_id
from brutor.server.io import DisconnectGuard, add_request_ids, read_body, send_reply, send_stream

if TYPE_CHECKING:
    from brutor.reload import ConfigWatcher
    from brutor.server.worker_slot import WorkerSlot
    from brutor.store.watcher import StoreWatcher

log = logging.getLogger("brutor.server")

Handler = Callable[[Any, Any], Awaitable[None]]
CONFIG_ENV = "BRUTOR_CONFIG"
# Set by `brutor serve` for its workers: the resolved data directory (spool, audit file, metrics).
DATA_DIR_ENV = "BRUTOR_RUN_DIR"
# Requests outstanding longer than this are watched for client disconnects (see DisconnectGuard).
_ARM_DISCONNECT_AFTER = 0.05


class BrutorApp:
    def __init__(
        self, config: GatewayConfig, config_path: str | None = None, data_dir: Path | None = None
    ) -> None:
        self._config = config
        # None: no audit trail or metrics files (in-process tests); `brutor serve` always sets it.
        self._data_dir = data_dir
        self._config_path = config_path
        self._watcher: ConfigWatcher | None = None
        self._store_watcher: StoreWatcher | None = None
        self._slot: WorkerSlot | None = None
        self._gateway: Gateway | None = None
        self._ids = RequestIds()
        self._limit = config.server.max_body_bytes
        self._started = int(time.time())
        self._routes: dict[str, tuple[str, Handler]] = {
            "/v1/chat/completions": ("POST", self._chat),
            "/v1/embeddings": ("POST", self._embeddings),
            "/v1/models": ("GET", self._models),
            "/healthz": ("GET", self._healthz),
            "/readyz": ("GET", self._readyz),
            "/metrics": ("GET", self._metrics),
        }

    # -- RSGI lifecycle -------------------------------------------------------------------------------
    def __rsgi_init__(self, loop: Any) -> None:
        if self._config.store.backend == "postgres":
            self._gateway = self._with_store(loop)
        else:
            self._gateway = build_gateway(self._config)
        if self._data_dir is not None:
            from brutor.assemble import attach_observability, start_observability
            from brutor.server.worker_slot import WorkerSlot

            self._slot = WorkerSlot(self._data_dir / "workers")
            attach_observability(self._gateway, self._data_dir, self._slot.name)
            from brutor.assemble import attach_cache

            attach_cache(self._gateway, self._data_dir, loop)
            start_observability(self._gateway, loop)
        if self._gateway.jwt is not None:
            self._gateway.jwt.start(loop)
        if self._config_path:
            from brutor.reload import ConfigWatcher

            self._watcher = ConfigWatcher(self._config_path, self._gateway)
            self._watcher.start(loop)

    def _with_store(self, loop: Any) -> Gateway:
        """Build from the file overlaid with the store's snapshot, then follow the store's changes."""
        from brutor.reload import refresh
        from brutor.store.errors import StoreError
        from brutor.store.postgres import PgConfigStore
        from brutor.store.snapshot import overlay
        from brutor.store.watcher import StoreWatcher

        cfg = self._config.store
        assert cfg.postgres_url is not None  # config validation
        store = PgConfigStore(cfg.postgres_url.get_secret_value(), cfg.schema_name)
        snapshot = None
        try:
            snapshot = loop.run_until_complete(store.snapshot())
        except StoreError as exc:
            # Fail closed for what only the database defines; the watcher applies it once reachable.
            log.error("config store unreachable at worker start (%s); serving the config file only", exc)
        gateway = build_gateway(overlay(self._config, snapshot))
        gateway.base, gateway.snapshot, gateway.store = self._config, snapshot, store

        async def on_snapshot(new: Any) -> None:
            await refresh(gateway, loop, snapshot=new)

        self._store_watcher = StoreWatcher(
            store, snapshot.version if snapshot is not None else None, on_snapshot, cfg.poll_seconds
        )
        self._store_watcher.start(loop)
        return gateway

    def __rsgi_del__(self, loop: Any) -> None:
        if self._store_watcher is not None:
            loop.run_until_complete(self._store_watcher.aclose())
        if self._watcher is not None:
            self._watcher.stop()
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            loop.run_until_complete(gateway.aclose())
        if self._slot is not None:
            self._slot.release()

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        path = scope.path
        entry = self._routes.get(path)
        if entry is None:
            if path.startswith("/admin/"):
                await self._admin(scope, proto)
                return
            if path.startswith("/v1/models/") and scope.method == "GET":
                await self._model(scope, proto, path[len("/v1/models/") :])
                return
            self._plain_error(scope, proto, not_found(f"Unknown path '{path[:200]}'."))
            return
        method, handler = entry
        if scope.method != method:
            error = GatewayError(
                405,
                f"Method {scope.method} is not allowed on {path}.",
                code="method_not_allowed",
                headers=(("allow", method),),
            )
            self._plain_error(scope, proto, error)
            return
        await handler(scope, proto)

    # -- governed LLM endpoints -----------------------------------------------------------------------
    async def _chat(self, scope: Any, proto: Any) -> None:
        await self._governed(scope, proto, decode_chat)

    async def _embeddings(self, scope: Any, proto: Any) -> None:
        await self._governed(scope, proto, decode_embeddings)

    async def _governed(self, scope: Any, proto: Any, parse: Callable[[bytes], Call]) -> None:
        gateway = self._gateway
        headers = scope.headers
        ctx = self._context(scope)
        if gateway is None:
            self._reply(proto, ctx, error_reply(_not_ready()), None)
            return
        if gateway.tracing is not None:
            ctx.trace = gateway.tracing.begin(headers.get("traceparent"))
        if gateway.audit is not None and not gateway.audit.admits():
            # Nothing is served unaudited: the spool is full and the sink unreachable.
            self._reply(proto, ctx, error_reply(_audit_unavailable()), gateway)
            return
        limit = self._limit

        async def decode(c: RequestContext) -> Call:
            return parse(await read_body(proto, headers, limit))

        guard = DisconnectGuard(proto, _ARM_DISCONNECT_AFTER)
        try:
            reply = await gateway.pipeline.run(ctx, decode)
        except asyncio.CancelledError:
            if not guard.fired:
                raise
            guard.release()
            # The client left before the answer: the upstream call was dropped; record, send nothing.
            ctx.status, ctx.error_code = 499, "client_disconnected"
            gateway.pipeline.egress.record(ctx)
            return
        except GatewayError as exc:
            ctx.error_code = exc.code
            reply = error_reply(exc)
        except Exception:
            log.exception("request %s failed inside the gateway", ctx.request_id)
            error = internal_error()
            ctx.error_code = error.code
            reply = error_reply(error)
        if isinstance(reply, StreamReply):
            # The same guard stays armed while the stream is relayed.
            await send_stream(proto, ctx, reply, gateway.pipeline.egress, guard)
        else:
            guard.release()
            self._reply(proto, ctx, reply, gateway)

    def _reply(self, proto: Any, ctx: RequestContext, reply: Reply, gateway: Gateway | None) -> None:
        if gateway is None:
            add_request_ids(reply.headers, ctx)
            proto.response_bytes(reply.status, reply.headers, reply.body)
            return
        send_reply(proto, ctx, reply, gateway.pipeline.egress)

    def _context(self, scope: Any) -> RequestContext:
        headers = scope.headers
        return RequestContext(
            self._ids.next(), headers, scope.client, client_request_id(headers.get("x-request-id"))
        )

    # -- models --------------------------------------------------------------------------------------
    async def _identified(self, scope: Any, proto: Any) -> tuple[RequestContext, Gateway] | None:
        """Identify the caller for endpoints outside the pipeline; answers the error itself."""
        ctx = self._context(scope)
        gateway = self._gateway
        if gateway is None:
            self._reply(proto, ctx, error_reply(_not_ready()), None)
            return None
        try:
            await gateway.identify(ctx)
        except GatewayError as exc:
            ctx.error_code = exc.code
            self._reply(proto, ctx, error_reply(exc), gateway)
            return None
        return ctx, gateway

    async def _models(self, scope: Any, proto: Any) -> None:
        found = await self._identified(scope, proto)
        if found is None:
            return
        ctx, gateway = found
        assert ctx.principal is not None
        ctx.call = Call(Target.LLM, "models.list", "*")
        data = [
            model_entry(d.name, d.provider.owner, self._started)
            for d in gateway.deployments.values()
            if gateway.authorize.permits(ctx.principal, d.name)
        ]
        self._reply(proto, ctx, json_reply(200, {"object": "list", "data": data}), gateway)

    async def _model(self, scope: Any, proto: Any, name: str) -> None:
        found = await self._identified(scope, proto)
        if found is None:
            return
        ctx, gateway = found
        assert ctx.principal is not None
        ctx.call = Call(Target.LLM, "models.retrieve", name)
        d = gateway.deployments.get(name)
        if d is None or not gateway.authorize.permits(ctx.principal, name):
            error = not_found(
                f"The model '{name[:256]}' does not exist.", code="model_not_found", param="model"
            )
            ctx.error_code = error.code
            self._reply(proto, ctx, error_reply(error), gateway)
            return
        self._reply(
            proto, ctx, json_reply(200, model_entry(d.name, d.provider.owner, self._started)), gateway
        )

    # -- operations ----------------------------------------------------------------------------------
    async def _healthz(self, scope: Any, proto: Any) -> None:
        self._plain(scope, proto, 200, b'{"status":"ok"}')

    async def _metrics(self, scope: Any, proto: Any) -> None:
        gateway = self._gateway
        metrics = gateway.metrics if gateway is not None else None
        if gateway is None or metrics is None:
            self._plain_error(scope, proto, not_found("Metrics are off (metrics.enabled: false)."))
            return
        token = gateway.config.metrics.bearer_token
        if token is not None and not _bearer_matches(scope.headers, token.get_secret_value()):
            self._plain_error(scope, proto, unauthorized("A valid bearer token is required for /metrics."))
            return
        body = metrics.render()
        proto.response_bytes(200, [("content-type", metrics.CONTENT_TYPE)], body)

    async def _readyz(self, scope: Any, proto: Any) -> None:
        if self._gateway is None:
            self._plain(scope, proto, 503, b'{"status":"starting"}')
        else:
            self._plain(scope, proto, 200, b'{"status":"ready"}')

    async def _admin(self, scope: Any, proto: Any) -> None:
        gateway = self._gateway
        if gateway is None:
            self._plain_error(scope, proto, _not_ready())
            return
        from brutor.admin.api import dispatch

        headers = scope.headers

        async def body() -> bytes:
            return await read_body(proto, headers, self._limit)

        try:
            status, payload, extra = await dispatch(
                gateway, scope.method, scope.path, scope.query_string, headers, body
            )
        except GatewayError as exc:  # the body reader's own errors (413, bad length)
            status, payload, extra = exc.status, exc.body(), exc.headers
        self._plain(scope, proto, status, payload, extra)

    def _plain_error(self, scope: Any, proto: Any, error: GatewayError) -> None:
        self._plain(scope, proto, error.status, error.body(), error.headers)

    def _plain(
        self, scope: Any, proto: Any, status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        """A JSON answer outside the pipeline (health, admin, unknown paths); still carries a request id."""
        ctx = self._context(scope)
        headers = [("content-type", "application/json"), *extra]
        add_request_ids(headers, ctx)
        proto.response_bytes(status, headers, body)


def _bearer_matches(headers: Any, token: str) -> bool:
    offered = headers.get("authorization") or ""
    scheme, _, value = offered.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


def _audit_unavailable() -> GatewayError:
    return GatewayError(
        503,
        "The gateway cannot record requests right now (audit spool full); try again later.",
        type="api_error",
        code="audit_unavailable",
        headers=(("retry-after", "5"),),
    )


def _not_ready() -> GatewayError:
    return GatewayError(503, "The gateway is starting.", type="api_error", code="not_ready")


def create_app() -> BrutorApp:
    """granian factory: each worker process builds its own app from the same validated config."""
    path = os.environ.get(CONFIG_ENV)
    config = load_config(path) if path else default_config()
    run_dir = os.environ.get(DATA_DIR_ENV)
    return BrutorApp(config, path or None, Path(run_dir) if run_dir else None)
