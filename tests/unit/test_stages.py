from __future__ import annotations

import asyncio

import pytest

from brutor.config import KeyConfig
from brutor.context import Call, Principal, RequestContext, Target
from brutor.errors import GatewayError
from brutor.pipeline.authorize import Authorize, compile_allow_list
from brutor.pipeline.identify import Identify, bearer_credential


def key(kid: str, secret: str, models: tuple[str, ...] = ("*",)) -> KeyConfig:
    return KeyConfig.model_validate({"id": kid, "key": secret, "tenant": f"t-{kid}", "models": list(models)})


def ctx_with(headers: dict[str, str]) -> RequestContext:
    return RequestContext("rid", headers)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Bearer abc"}, "abc"),
        ({"authorization": "bearer   abc  "}, "abc"),
        ({"authorization": "Basic abc"}, None),
        ({"authorization": "Bearer "}, None),
        ({"api-key": "xyz"}, "xyz"),
        ({}, None),
    ],
)
def test_bearer_credential(headers: dict[str, str], expected: str | None) -> None:
    assert bearer_credential(headers) == expected


def test_identify_resolves_principal_and_rejects_others() -> None:
    stage = Identify([key("a", "sk-aaaaaaaaaaaaaaaa"), key("b", "sk-bbbbbbbbbbbbbbbb")])
    ctx = ctx_with({"authorization": "Bearer sk-bbbbbbbbbbbbbbbb"})
    assert asyncio.run(stage(ctx)) is None
    assert ctx.principal == Principal(key_id="b", tenant="t-b", tenants=("t-b",))
    for headers in (
        {},
        {"authorization": "Bearer sk-cccccccccccccccc"},
        {"authorization": "Bearer " + "x" * 5000},
    ):
        with pytest.raises(GatewayError) as info:
            asyncio.run(stage(ctx_with(headers)))
        assert info.value.status == 401
        assert info.value.code == "invalid_api_key"
        assert "sk-cccc" not in info.value.message


@pytest.mark.parametrize(
    ("patterns", "name", "allowed"),
    [
        (("*",), "anything", True),
        (("gpt-4o",), "gpt-4o", True),
        (("gpt-4o",), "gpt-4o-mini", False),
        (("openai/*",), "openai/gpt-4o", True),
        (("openai/*",), "anthropic/claude", False),
        (("openai/*", "local"), "local", True),
        (("a.b*",), "axb", False),
        (("gpt-?",), "gpt-4", False),
        ((), "gpt-4", False),
    ],
)
def test_allow_list(patterns: tuple[str, ...], name: str, allowed: bool) -> None:
    assert compile_allow_list(patterns)(name) is allowed


def test_authorize_uses_resource_not_body() -> None:
    stage = Authorize([key("a", "sk-aaaaaaaaaaaaaaaa", ("tools/*",))])
    ctx = ctx_with({})
    ctx.principal = Principal("a", "t-a")
    ctx.call = Call(Target.MCP, "tools/call", "tools/search", payload={"jsonrpc": "2.0"})
    assert asyncio.run(stage(ctx)) is None
    ctx.call = Call(Target.MCP, "tools/call", "admin/delete")
    with pytest.raises(GatewayError) as info:
        asyncio.run(stage(ctx))
    assert info.value.status == 403 and info.value.code == "model_not_allowed"


def test_authorize_fails_closed_without_principal() -> None:
    stage = Authorize([])
    ctx = ctx_with({})
    ctx.call = Call(Target.LLM, "chat.completions", "m")
    with pytest.raises(GatewayError) as info:
        asyncio.run(stage(ctx))
    assert info.value.status == 500


def test_tenant_header_selects_only_member_tenants() -> None:
    multi = KeyConfig.model_validate(
        {"id": "m", "key": "sk-mmmmmmmmmmmmmmmm", "tenant": "acme", "tenants": ["acme-eu", "acme-us"]}
    )
    stage = Identify([multi, key("s", "sk-ssssssssssssssss")])
    bearer = {"authorization": "Bearer sk-mmmmmmmmmmmmmmmm"}
    ctx = ctx_with(bearer)
    asyncio.run(stage(ctx))
    assert ctx.principal is not None and ctx.principal.tenant == "acme"
    ctx = ctx_with({**bearer, "x-tenant-id": "acme-us"})
    asyncio.run(stage(ctx))
    assert ctx.principal is not None and ctx.principal.tenant == "acme-us" and ctx.principal.key_id == "m"
    for other in ("globex", "t-s"):
        with pytest.raises(GatewayError) as info:
            asyncio.run(stage(ctx_with({**bearer, "x-tenant-id": other})))
        assert info.value.status == 403 and info.value.code == "tenant_not_allowed"
    single = ctx_with({"authorization": "Bearer sk-ssssssssssssssss", "x-tenant-id": "acme"})
    with pytest.raises(GatewayError):
        asyncio.run(stage(single))


def test_entitlements_deny_wins_and_allow_lists_intersect() -> None:
    from brutor.config import EntitlementsConfig

    ent = EntitlementsConfig.model_validate(
        {
            "tenants": {"acme": {"allow": ["openai/*", "local/*"], "deny": ["openai/o1*"]}},
            "groups": {
                "interns": {"allow": ["local/*"]},
                "eng": {"allow": ["openai/*", "local/*"]},
                "contractors": {"deny": ["local/secret"]},
            },
        }
    )
    keys = [
        KeyConfig.model_validate(
            {"id": "k", "key": "sk-kkkkkkkkkkkkkkkk", "tenant": "acme", "deny": ["openai/gpt-4o"]}
        ),
        key("other", "sk-oooooooooooooooo"),
    ]
    stage = Authorize(keys, entitlements=ent)

    def may(groups: tuple[str, ...], resource: str, kid: str = "k", tenant: str = "acme") -> bool:
        return stage.permits(Principal(kid, tenant, groups=groups), resource)

    assert may((), "openai/gpt-4o-mini")
    assert not may((), "openai/gpt-4o")  # the key's deny-list
    assert not may((), "openai/o1-preview")  # the tenant's deny-list
    assert not may((), "anthropic/claude")  # outside the tenant's allow-list
    assert not may(("interns",), "openai/gpt-4o-mini")  # the only group allow-list excludes it
    assert may(("interns", "eng"), "openai/gpt-4o-mini")  # one allowing group is enough
    assert may(("eng",), "local/secret")
    assert not may(("eng", "contractors"), "local/secret")  # any group's deny wins
    assert may((), "anthropic/claude", kid="other", tenant="t-other")  # no rules for that tenant


def test_hashed_expired_and_revoked_keys() -> None:
    from datetime import UTC, datetime, timedelta

    from brutor.identity import apikeys

    pepper = "pepper-0123456789abcdef"
    live, old, gone = apikeys.generate_key(), apikeys.generate_key(), apikeys.generate_key()
    assert live.startswith("sk-brutor-") and len({live, old, gone}) == 3
    past = datetime.now(UTC) - timedelta(seconds=1)
    cfgs = [
        KeyConfig.model_validate({"id": "live", "tenant": "t", "key_hash": apikeys.key_hash(pepper, live)}),
        KeyConfig.model_validate(
            {"id": "old", "tenant": "t", "key_hash": apikeys.key_hash(pepper, old), "expires_at": past}
        ),
        KeyConfig.model_validate({"id": "gone", "tenant": "t", "key": gone, "revoked": True}),
    ]
    stage = Identify(cfgs, pepper=pepper)
    ctx = ctx_with({"authorization": f"Bearer {live}"})
    asyncio.run(stage(ctx))
    assert ctx.principal is not None and ctx.principal.key_id == "live"
    for secret, message in ((old, "expired"), (gone, "Invalid API key")):
        with pytest.raises(GatewayError) as info:
            asyncio.run(stage(ctx_with({"authorization": f"Bearer {secret}"})))
        assert info.value.status == 401 and message in info.value.message
    # The same key hashed with another pepper matches nothing.
    other = Identify(cfgs[:1], pepper="another-pepper-0123456789")
    with pytest.raises(GatewayError):
        asyncio.run(other(ctx_with({"authorization": f"Bearer {live}"})))
