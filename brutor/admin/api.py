"""Admin API dispatch: authenticate the admin, find the route, run it, map failures to OpenAI-shaped errors.

Admins are the holder of ``server.admin_key`` or a JWT principal in one of ``server.admin_groups``; a client
API key never opens the admin API. The OpenAPI document is public (it holds no data).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from pydantic import BaseModel

from brutor.admin.cache_api import invalidate_cache
from brutor.admin.openapi import openapi_document
from brutor.admin.resources import AdminRequest
from brutor.admin.routes import ROUTES
from brutor.assemble import Gateway
from brutor.errors import GatewayError, bad_request, not_found, unauthorized
from brutor.identity.jwt_auth import looks_like_jwt
from brutor.pipeline.identify import bearer_credential
from brutor.store.errors import StoreConflict, StoreError, StoreNotFound

log = logging.getLogger("brutor.admin")

ReadBody = Callable[[], Awaitable[bytes]]
Answer = tuple[int, bytes, tuple[tuple[str, str], ...]]
_WRITES = frozenset(("POST", "PUT", "PATCH"))


def _encode(value: Any) -> bytes:
    def default(obj: Any) -> Any:
        if isinstance(obj, BaseModel):
            return obj.model_dump(mode="json")
        raise TypeError

    return orjson.dumps(
        value.model_dump(mode="json") if isinstance(value, BaseModel) else value, default=default
    )


async def authenticate(gateway: Gateway, headers: Any) -> str:
    """The acting admin's name for the log; raises 401/403 otherwise."""
    server = gateway.config.server
    if server.admin_key is None and not server.admin_groups:
        raise GatewayError(
            403,
            "The admin API is disabled: set server.admin_key or server.admin_groups.",
            type="permission_error",
            code="admin_disabled",
        )
    credential = bearer_credential(headers) or ""
    key = server.admin_key
    if key is not None and hmac.compare_digest(credential.encode(), key.get_secret_value().encode()):
        return "admin-key"
    if server.admin_groups and gateway.jwt is not None and looks_like_jwt(credential):
        principal = await gateway.jwt.authenticate(credential)
        if set(principal.groups) & set(server.admin_groups):
            return f"{principal.key_id}:{principal.subject}"
        raise GatewayError(403, "This token has no admin role.", type="permission_error", code="not_admin")
    raise unauthorized("Invalid admin credential.")


async def dispatch(
    gateway: Gateway, method: str, path: str, query: str, headers: Any, read_body: ReadBody
) -> Answer:
    if path == "/admin/openapi.json" and method == "GET":
        return 200, orjson.dumps(openapi_document()), ()
    try:
        actor = await authenticate(gateway, headers)
        if path == "/admin/usage" and method == "GET":
            return 200, _encode(await usage(gateway, dict(parse_qsl(query)))), ()
        if path == "/admin/cache" and method == "DELETE":
            return 200, _encode(await invalidate_cache(gateway, dict(parse_qsl(query)))), ()
        allowed = []
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            body = await read_body() if method in _WRITES else b""
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            req = AdminRequest(gateway, params, dict(parse_qsl(query)), body, actor)
            status, payload = await route.handler(req)
            return status, _encode(payload), ()
        if allowed:
            raise GatewayError(
                405,
                f"Method {method} is not allowed on {path[:200]}.",
                code="method_not_allowed",
                headers=(("allow", ", ".join(allowed)),),
            )
        raise not_found(f"Unknown path '{path[:200]}'.")
    except GatewayError as exc:
        return exc.status, exc.body(), exc.headers
    except StoreNotFound as exc:
        return 404, GatewayError(404, str(exc), code="not_found").body(), ()
    except StoreConflict as exc:
        return 409, GatewayError(409, str(exc), code="conflict").body(), ()
    except StoreError as exc:
        log.warning("admin request failed: %s", exc)
        error = GatewayError(
            503, "The config store is unavailable; try again.", type="api_error", code="store_unavailable"
        )
        return 503, error.body(), ()


_DEFAULT_WINDOW = 30 * 86400


def _when(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"'{name}' must be an ISO 8601 time or unix seconds.", param=name) from None
    if parsed.tzinfo is None:
        raise bad_request(f"'{name}' needs a time zone, e.g. 2026-11-01T00:00:00Z.", param=name)
    return parsed.timestamp()


async def usage(gateway: Gateway, params: dict[str, str]) -> dict[str, Any]:
    """Usage from the audit sink: ?tenant=&from=&to=&group_by=tenant|model|key|user|day."""
    from brutor.audit.sinks import GROUPS, UsageQuery

    group_by = params.get("group_by", "model")
    if group_by not in GROUPS:
        raise bad_request(f"'group_by' must be one of {', '.join(GROUPS)}.", param="group_by")
    until = _when(params["to"], "to") if "to" in params else time.time()
    since = _when(params["from"], "from") if "from" in params else until - _DEFAULT_WINDOW
    if gateway.audit is None:
        raise GatewayError(409, "Usage needs the audit trail (audit.sink is off).", code="audit_off")
    q = UsageQuery(tenant=params.get("tenant"), since=since, until=until, group_by=group_by)
    try:
        rows = await gateway.audit.sink.usage(q)
    except OSError:
        raise GatewayError(
            503, "The audit store is unavailable; try again.", type="api_error", code="audit_unavailable"
        ) from None
    return {
        "object": "brutor.usage",
        "tenant": q.tenant,
        "from": datetime.fromtimestamp(since, UTC).isoformat(),
        "to": datetime.fromtimestamp(until, UTC).isoformat(),
        "group_by": group_by,
        "data": rows,
    }
