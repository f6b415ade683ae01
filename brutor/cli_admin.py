"""``brutor keys …`` and ``brutor tenants …``: the admin API's common operations from a shell.

They talk to a running gateway over HTTP (``--url``, default ``$BRUTOR_URL`` or http://127.0.0.1:8080)
with the admin key from ``$BRUTOR_ADMIN_KEY``, so operators need no database credentials or pepper.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

_TIMEOUT = 10.0


def add_commands(keys_sub: Any, sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", default=os.environ.get("BRUTOR_URL", "http://127.0.0.1:8080"))
        p.add_argument("--admin-key-env", default="BRUTOR_ADMIN_KEY", help="variable holding the admin key")
        p.add_argument("--json", action="store_true", help="print the API's JSON answer")

    create = keys_sub.add_parser("create", help="create a key through the admin API (secret shown once)")
    common(create)
    create.add_argument("--tenant", required=True)
    create.add_argument("--id", help="key id (default: generated)")
    create.add_argument("--owner")
    create.add_argument("--models", help="comma-separated allow-list (default: *)")
    create.add_argument("--expires-at", help="ISO 8601 time with zone, e.g. 2027-01-31T00:00:00Z")
    listing = keys_sub.add_parser("list", help="list keys")
    common(listing)
    listing.add_argument("--tenant")
    for name, text in (("revoke", "revoke a key"), ("delete", "delete a key")):
        p = keys_sub.add_parser(name, help=text)
        common(p)
        p.add_argument("key_id")

    tenants = sub.add_parser("tenants", help="tenant operations through the admin API")
    tenants_sub = tenants.add_subparsers(dest="tenants_command", required=True)
    tcreate = tenants_sub.add_parser("create", help="create a tenant")
    common(tcreate)
    tcreate.add_argument("tenant_id")
    tcreate.add_argument("--name")
    tlist = tenants_sub.add_parser("list", help="list tenants")
    common(tlist)
    for name, text in (("disable", "refuse every request of a tenant"), ("enable", "serve a tenant again")):
        p = tenants_sub.add_parser(name, help=text)
        common(p)
        p.add_argument("tenant_id")


class AdminClientError(RuntimeError):
    pass


def _call(args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    key = os.environ.get(args.admin_key_env)
    if not key:
        raise AdminClientError(f"set {args.admin_key_env} to the gateway's admin key")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own gateway
        args.url.rstrip("/") + path,
        data=data,
        method=method,
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise AdminClientError(f"{exc.code}: {message}") from None
    except (OSError, ValueError) as exc:
        raise AdminClientError(f"cannot reach {args.url}: {type(exc).__name__}") from None


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def run(args: argparse.Namespace) -> int:
    try:
        result = _dispatch(args)
    except AdminClientError as exc:
        print(f"brutor: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
    elif isinstance(result, dict) and result.get("object") == "list":
        for item in result["data"]:
            print(_line(item))
    elif isinstance(result, dict):
        if "key" in result:
            print(f"key (shown once): {result['key']}")
        print(_line(result))
    return 0


def _line(item: dict[str, Any]) -> str:
    if item.get("object") == "brutor.key":
        state = "revoked" if item.get("revoked") else "active"
        return f"{item['id']}\ttenant={item['tenant']}\t{state}\t{item.get('prefix') or '(file)'}\towner={item.get('owner') or '-'}"
    if item.get("object") == "brutor.tenant":
        return f"{item['id']}\t{'disabled' if item['disabled'] else 'enabled'}\t{item.get('name') or ''}"
    return json.dumps(item)


def _dispatch(args: argparse.Namespace) -> Any:
    if args.command == "tenants":
        cmd = args.tenants_command
        if cmd == "create":
            return _call(args, "POST", "/admin/tenants", {"id": args.tenant_id, "name": args.name})
        if cmd == "list":
            return _call(args, "GET", "/admin/tenants")
        return _call(
            args, "PATCH", f"/admin/tenants/{_quote(args.tenant_id)}", {"disabled": cmd == "disable"}
        )
    cmd = args.keys_command
    if cmd == "create":
        body: dict[str, Any] = {"tenant": args.tenant}
        for field in ("id", "owner", "expires_at"):
            if getattr(args, field):
                body[field] = getattr(args, field)
        if args.models:
            body["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
        return _call(args, "POST", "/admin/keys", body)
    if cmd == "list":
        query = f"?tenant={_quote(args.tenant)}" if args.tenant else ""
        return _call(args, "GET", f"/admin/keys{query}")
    if cmd == "revoke":
        return _call(args, "POST", f"/admin/keys/{_quote(args.key_id)}/revoke")
    return _call(args, "DELETE", f"/admin/keys/{_quote(args.key_id)}")
