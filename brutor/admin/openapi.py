"""The admin API's OpenAPI 3.1 document, generated from the route table and the pydantic schemas."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from brutor import __version__
from brutor.admin.cache_api import OPENAPI_PATH as CACHE_PATH
from brutor.admin.routes import ROUTES, Route

_REF = "#/components/schemas/{model}"
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _operation(route: Route) -> dict[str, Any]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{(\w+)\}", route.template)
    ]
    if route.method == "GET" and route.path == "/admin/keys":
        params.append({"name": "tenant", "in": "query", "required": False, "schema": {"type": "string"}})
    schema: dict[str, Any] = {}
    if route.response is not None:
        schema = _ref(route.response)
        if route.listing:
            schema = {
                "type": "object",
                "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": schema}},
            }
    error = {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    op: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.tag],
        "parameters": params,
        "responses": {
            str(route.status): {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "default": error,
        },
    }
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(route.body)}}}
    return op


def openapi_document() -> dict[str, Any]:
    models = {m for route in ROUTES for m in (route.body, route.response) if m is not None}
    _, defs = models_json_schema(
        [
            (m, "validation" if any(r.body is m for r in ROUTES) else "serialization")
            for m in sorted(models, key=lambda m: m.__name__)
        ],
        ref_template=_REF,
    )
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = _ERROR
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.template, {})[route.method.lower()] = _operation(route)
    paths["/admin/usage"] = {
        "get": {
            "operationId": "usage",
            "summary": "Usage totals from the audit trail (requests, tokens, cost, cache savings)",
            "tags": ["usage"],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    }
    paths["/admin/cache"] = CACHE_PATH
    return {
        "openapi": "3.1.0",
        "info": {"title": "Brutor admin API", "version": __version__},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"admin": []}],
        "paths": paths,
    }
