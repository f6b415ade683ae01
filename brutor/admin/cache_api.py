"""``DELETE /admin/cache``: invalidate cached answers by tenant, by model, or one entry.

An entry is named by the tenant, the model (as the client asked for it) and the key a response carried
in ``x-brutor-cache-key``. With the embedded store the answering worker drops its entries at once and
the other workers of this host before their next lookup (``brutor.cache.journal``); with Redis entries
the drop is shared by every worker and replica.
"""

from __future__ import annotations

import re
from typing import Any

from brutor.assemble import Gateway
from brutor.errors import GatewayError, bad_request

_KEY = re.compile(r"[0-9a-f]{16,128}")


async def invalidate_cache(gateway: Gateway, params: dict[str, str]) -> dict[str, Any]:
    stage = gateway.cache
    if stage is None:
        raise GatewayError(409, "The cache is not enabled on this gateway.", code="cache_disabled")
    unknown = sorted(set(params) - {"tenant", "model", "key"})
    if unknown:
        raise bad_request(f"Unknown parameter '{unknown[0][:100]}'.", param=unknown[0][:100])
    tenant = params.get("tenant") or None
    model = params.get("model") or None
    key = params.get("key") or None
    if tenant is None and model is None:
        raise bad_request("Name a tenant, a model, or both (and a key for one entry).", param="tenant")
    if key is not None:
        if tenant is None or model is None:
            raise bad_request("An entry is named by tenant, model and key together.", param="key")
        if _KEY.fullmatch(key) is None:
            raise bad_request("key is the hex value of an x-brutor-cache-key header.", param="key")
    dropped = await stage.invalidate(tenant, model, key)
    return {
        "object": "brutor.cache.invalidation",
        "tenant": tenant,
        "model": model,
        "key": key,
        "invalidated": dropped,
    }


def _param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


OPENAPI_PATH = {
    "delete": {
        "operationId": "invalidateCache",
        "summary": "Invalidate cached answers of a tenant, a model, or one entry",
        "tags": ["cache"],
        "parameters": [
            _param("tenant", "Drop this tenant's entries."),
            _param("model", "Drop this model's entries (of the tenant, when one is named; else of all)."),
            _param("key", "With tenant and model: drop the one entry of this x-brutor-cache-key."),
        ],
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}},
            "400": {"description": "Bad parameters"},
            "409": {"description": "The cache is not enabled"},
        },
    }
}
