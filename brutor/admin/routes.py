"""The admin API's route table: one place lists every operation, for dispatch and for OpenAPI."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydantic import BaseModel

from brutor.admin import resources as r
from brutor.admin import schemas as s


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    # OpenAPI path template; a parameter written ``{name:path}`` may contain ``/`` (model names do).
    path: str
    handler: r.Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    listing: bool = False
    status: int = 200
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rx = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", self.path)
        rx = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", rx)
        object.__setattr__(self, "pattern", re.compile(rx))

    @property
    def template(self) -> str:
        return re.sub(r"\{(\w+):path\}", r"{\1}", self.path)


ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/admin/tenants",
        r.list_tenants,
        "List tenants",
        "tenants",
        response=s.TenantView,
        listing=True,
    ),
    Route(
        "POST",
        "/admin/tenants",
        r.create_tenant,
        "Create a tenant",
        "tenants",
        s.TenantCreate,
        s.TenantView,
        status=201,
    ),
    Route(
        "GET", "/admin/tenants/{tenant_id}", r.get_tenant, "Get a tenant", "tenants", response=s.TenantView
    ),
    Route(
        "PATCH",
        "/admin/tenants/{tenant_id}",
        r.update_tenant,
        "Update a tenant",
        "tenants",
        s.TenantPatch,
        s.TenantView,
    ),
    Route(
        "DELETE",
        "/admin/tenants/{tenant_id}",
        r.delete_tenant,
        "Delete a tenant (it must have no keys)",
        "tenants",
        response=s.Deleted,
    ),
    Route(
        "GET",
        "/admin/keys",
        r.list_keys,
        "List API keys (optionally ?tenant=)",
        "keys",
        response=s.KeyView,
        listing=True,
    ),
    Route(
        "POST",
        "/admin/keys",
        r.create_key,
        "Create an API key; the secret is in this answer only",
        "keys",
        s.KeyCreate,
        s.KeyCreated,
        status=201,
    ),
    Route(
        "GET",
        "/admin/keys/{key_id}",
        r.get_key,
        "Get an API key (never its secret)",
        "keys",
        response=s.KeyView,
    ),
    Route("PATCH", "/admin/keys/{key_id}", r.update_key, "Update an API key", "keys", s.KeyPatch, s.KeyView),
    Route(
        "POST", "/admin/keys/{key_id}/revoke", r.revoke_key, "Revoke an API key", "keys", response=s.KeyView
    ),
    Route("DELETE", "/admin/keys/{key_id}", r.delete_key, "Delete an API key", "keys", response=s.Deleted),
    Route(
        "GET",
        "/admin/entitlements",
        r.list_entitlements,
        "List entitlements",
        "entitlements",
        response=s.EntitlementView,
        listing=True,
    ),
    Route(
        "GET",
        "/admin/entitlements/{kind}/{name}",
        r.get_entitlement,
        "Get an entitlement (kind: tenants or groups)",
        "entitlements",
        response=s.EntitlementView,
    ),
    Route(
        "PUT",
        "/admin/entitlements/{kind}/{name}",
        r.put_entitlement,
        "Set an entitlement",
        "entitlements",
        s.EntitlementPut,
        s.EntitlementView,
    ),
    Route(
        "DELETE",
        "/admin/entitlements/{kind}/{name}",
        r.delete_entitlement,
        "Delete an entitlement",
        "entitlements",
        response=s.Deleted,
    ),
    Route(
        "GET", "/admin/limits", r.list_limits, "List limits", "limits", response=s.LimitsView, listing=True
    ),
    Route(
        "GET",
        "/admin/limits/{kind}/{subject:path}",
        r.get_limits,
        "Get limits (kind: tenants, models or users)",
        "limits",
        response=s.LimitsView,
    ),
    Route(
        "PUT",
        "/admin/limits/{kind}/{subject:path}",
        r.put_limits,
        "Set limits",
        "limits",
        s.LimitsPut,
        s.LimitsView,
    ),
    Route(
        "DELETE",
        "/admin/limits/{kind}/{subject:path}",
        r.delete_limits,
        "Delete limits",
        "limits",
        response=s.Deleted,
    ),
    Route("GET", "/admin/models", r.list_models, "List models", "models", response=s.ModelView, listing=True),
    Route("GET", "/admin/models/{name:path}", r.get_model, "Get a model", "models", response=s.ModelView),
    Route(
        "PUT",
        "/admin/models/{name:path}",
        r.put_model,
        "Create or replace a model",
        "models",
        s.ModelPut,
        s.ModelView,
    ),
    Route(
        "DELETE", "/admin/models/{name:path}", r.delete_model, "Delete a model", "models", response=s.Deleted
    ),
)
