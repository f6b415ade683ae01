"""Admin API handlers, one per operation. Writes need the postgres store; reads work with either store.

Each handler gets an ``AdminRequest`` and returns ``(status, body)``; errors are ``GatewayError``s or
store errors, mapped to HTTP by ``brutor.admin.api``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from brutor.admin.schemas import (
    Deleted,
    EntitlementPut,
    KeyCreate,
    KeyCreated,
    KeyPatch,
    LimitsPut,
    ModelPut,
    TenantCreate,
    TenantPatch,
)
from brutor.admin.views import ENTITLEMENT_SECTIONS, LIMIT_SECTIONS, View, read_view
from brutor.assemble import Gateway
from brutor.config import KeyConfig, ModelConfig, TenantConfig
from brutor.errors import GatewayError, bad_request, not_found
from brutor.identity import apikeys
from brutor.store.postgres import PgConfigStore

log = logging.getLogger("brutor.admin")

_Body = TypeVar("_Body", bound=BaseModel)
Result = tuple[int, Any]


@dataclass(frozen=True, slots=True)
class AdminRequest:
    gateway: Gateway
    params: dict[str, str]
    query: dict[str, str]
    body: bytes
    # Who is acting, for the admin log line: "admin-key" or "jwt:<issuer>:<subject>".
    actor: str

    def parse(self, model: type[_Body]) -> _Body:
        try:
            raw = orjson.loads(self.body) if self.body else {}
        except orjson.JSONDecodeError:
            raise bad_request("The request body is not valid JSON.", code="invalid_json") from None
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            raise bad_request(f"{loc}: {msg}" if loc else msg, param=loc or None) from None


Handler = Callable[[AdminRequest], Awaitable[Result]]


def _store(req: AdminRequest) -> PgConfigStore:
    if req.gateway.store is None:
        raise GatewayError(
            409,
            "This gateway keeps its config in the config file: edit the file (it reloads by itself), "
            "or set store.backend: postgres to manage it through this API.",
            code="store_read_only",
        )
    return req.gateway.store


async def _changed(req: AdminRequest, what: str) -> None:
    """Log the change and apply it on this worker now (the others follow the notification)."""
    from brutor.reload import refresh

    log.warning("admin change by %s: %s", req.actor, what)
    store = _store(req)
    await refresh(req.gateway, asyncio.get_running_loop(), snapshot=await store.snapshot())


def _listing(items: list[Any]) -> Result:
    return 200, {"object": "list", "data": items}


def _kind(req: AdminRequest, allowed: tuple[str, ...]) -> str:
    kind = req.params["kind"]
    if kind not in allowed:
        raise not_found(f"Unknown kind '{kind[:64]}'; expected one of {', '.join(allowed)}.")
    return kind


def _in_file(view: View, section: str, name: str) -> None:
    if view.source(section, name) == "file":
        raise GatewayError(
            409, f"'{name[:128]}' is defined in the config file; change it there.", code="defined_in_file"
        )


# -- tenants -------------------------------------------------------------------------------------------
async def list_tenants(req: AdminRequest) -> Result:
    return _listing((await read_view(req.gateway)).tenants())


async def get_tenant(req: AdminRequest) -> Result:
    tid = req.params["tenant_id"]
    found = [t for t in (await read_view(req.gateway)).tenants() if t.id == tid]
    if not found:
        raise not_found(f"Tenant '{tid[:128]}' does not exist.")
    return 200, found[0]


async def create_tenant(req: AdminRequest) -> Result:
    body = req.parse(TenantCreate)
    await _store(req).create_tenant(TenantConfig(id=body.id, name=body.name, disabled=body.disabled))
    await _changed(req, f"tenant {body.id} created")
    req.params["tenant_id"] = body.id
    return 201, (await get_tenant(req))[1]


async def update_tenant(req: AdminRequest) -> Result:
    tid = req.params["tenant_id"]
    patch = req.parse(TenantPatch)
    view = await read_view(req.gateway)
    current = next((t for t in view.config.tenants if t.id == tid), None)
    if current is None:
        raise not_found(f"Tenant '{tid[:128]}' does not exist.")
    _in_file(view, "tenants", tid)
    await _store(req).update_tenant(current.model_copy(update=patch.model_dump(exclude_unset=True)))
    await _changed(req, f"tenant {tid} updated")
    return await get_tenant(req)


async def delete_tenant(req: AdminRequest) -> Result:
    tid = req.params["tenant_id"]
    await _store(req).delete_tenant(tid)
    await _changed(req, f"tenant {tid} deleted")
    return 200, Deleted(object="brutor.tenant", id=tid)


# -- keys ----------------------------------------------------------------------------------------------
async def list_keys(req: AdminRequest) -> Result:
    return _listing((await read_view(req.gateway)).keys(req.query.get("tenant")))


async def get_key(req: AdminRequest) -> Result:
    kid = req.params["key_id"]
    view = await read_view(req.gateway)
    k = next((k for k in view.config.keys if k.id == kid), None)
    if k is None:
        raise not_found(f"Key '{kid[:128]}' does not exist.")
    return 200, view.key(k)


async def create_key(req: AdminRequest) -> Result:
    body = req.parse(KeyCreate)
    store = _store(req)
    base = req.gateway.base
    pepper = base.server.key_pepper if base is not None else None
    assert pepper is not None  # config validation: the postgres store requires server.key_pepper
    kid = body.id or "key-" + secrets.token_hex(6)
    if base is not None and any(k.id == kid for k in base.keys):
        raise GatewayError(409, f"Key id '{kid}' is used in the config file.", code="already_exists")
    secret = apikeys.generate_key()
    fields = body.model_dump(exclude={"id"})
    key = KeyConfig(id=kid, key_hash=apikeys.key_hash(pepper.get_secret_value(), secret), **fields)
    await store.create_key(key, prefix=secret[: len(apikeys.KEY_PREFIX) + 4])
    await _changed(req, f"key {kid} created for tenant {key.tenant}")
    req.params["key_id"] = kid
    view = (await get_key(req))[1]
    return 201, KeyCreated(**view.model_dump(), key=secret)


async def _patch_key(req: AdminRequest, patch: KeyPatch) -> Result:
    kid = req.params["key_id"]
    view = await read_view(req.gateway)
    current = next((k for k in view.config.keys if k.id == kid), None)
    if current is None:
        raise not_found(f"Key '{kid[:128]}' does not exist.")
    _in_file(view, "keys", kid)
    updated = current.model_copy(update=patch.model_dump(exclude_unset=True))
    await _store(req).update_key(KeyConfig.model_validate(updated.model_dump()))
    await _changed(req, f"key {kid} updated ({', '.join(sorted(patch.model_fields_set))})")
    return await get_key(req)


async def update_key(req: AdminRequest) -> Result:
    return await _patch_key(req, req.parse(KeyPatch))


async def revoke_key(req: AdminRequest) -> Result:
    return await _patch_key(req, KeyPatch(revoked=True))


async def delete_key(req: AdminRequest) -> Result:
    kid = req.params["key_id"]
    await _store(req).delete_key(kid)
    await _changed(req, f"key {kid} deleted")
    return 200, Deleted(object="brutor.key", id=kid)


# -- entitlements and limits -----------------------------------------------------------------------------
async def list_entitlements(req: AdminRequest) -> Result:
    return _listing((await read_view(req.gateway)).entitlements())


async def get_entitlement(req: AdminRequest) -> Result:
    kind, name = _kind(req, ENTITLEMENT_SECTIONS), req.params["name"]
    found = [e for e in (await read_view(req.gateway)).entitlements() if e.kind == kind and e.name == name]
    if not found:
        raise not_found(f"No entitlement for {kind} '{name[:128]}'.")
    return 200, found[0]


async def put_entitlement(req: AdminRequest) -> Result:
    kind, name = _kind(req, ENTITLEMENT_SECTIONS), req.params["name"]
    body = req.parse(EntitlementPut)
    await _store(req).put_entitlement(kind.removesuffix("s"), name, body.allow, body.deny)
    await _changed(req, f"entitlement {kind}/{name} set")
    return await get_entitlement(req)


async def delete_entitlement(req: AdminRequest) -> Result:
    kind, name = _kind(req, ENTITLEMENT_SECTIONS), req.params["name"]
    await _store(req).delete_entitlement(kind.removesuffix("s"), name)
    await _changed(req, f"entitlement {kind}/{name} deleted")
    return 200, Deleted(object="brutor.entitlement", id=f"{kind}/{name}")


async def list_limits(req: AdminRequest) -> Result:
    return _listing((await read_view(req.gateway)).limits())


async def get_limits(req: AdminRequest) -> Result:
    kind, subject = _kind(req, LIMIT_SECTIONS), req.params["subject"]
    found = [v for v in (await read_view(req.gateway)).limits() if v.kind == kind and v.subject == subject]
    if not found:
        raise not_found(f"No limits for {kind} '{subject[:128]}'.")
    return 200, found[0]


async def put_limits(req: AdminRequest) -> Result:
    kind, subject = _kind(req, LIMIT_SECTIONS), req.params["subject"]
    body = req.parse(LimitsPut)
    await _store(req).put_limits(kind.removesuffix("s"), subject, body)
    await _changed(req, f"limits {kind}/{subject} set")
    return await get_limits(req)


async def delete_limits(req: AdminRequest) -> Result:
    kind, subject = _kind(req, LIMIT_SECTIONS), req.params["subject"]
    await _store(req).delete_limits(kind.removesuffix("s"), subject)
    await _changed(req, f"limits {kind}/{subject} deleted")
    return 200, Deleted(object="brutor.limits", id=f"{kind}/{subject}")


# -- models --------------------------------------------------------------------------------------------
async def list_models(req: AdminRequest) -> Result:
    return _listing((await read_view(req.gateway)).models())


async def get_model(req: AdminRequest) -> Result:
    name = req.params["name"]
    found = [m for m in (await read_view(req.gateway)).models() if m.name == name]
    if not found:
        raise not_found(f"Model '{name[:256]}' does not exist.")
    return 200, found[0]


async def put_model(req: AdminRequest) -> Result:
    name = req.params["name"]
    body = req.parse(ModelPut)
    base = req.gateway.base
    if base is None or body.provider not in {p.name for p in base.providers}:
        raise bad_request(f"Unknown provider '{body.provider[:128]}'.", param="provider")
    await _store(req).put_model(ModelConfig(name=name, **body.model_dump()))
    await _changed(req, f"model {name} set")
    return await get_model(req)


async def delete_model(req: AdminRequest) -> Result:
    name = req.params["name"]
    await _store(req).delete_model(name)
    await _changed(req, f"model {name} deleted")
    return 200, Deleted(object="brutor.model", id=name)
