"""The pipeline order and the shared-stage contract, with recording stages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from brutor.context import Call, Principal, RequestContext, Target
from brutor.errors import GatewayError, unauthorized
from brutor.observability.accesslog import AccessLog
from brutor.pipeline import Pipeline
from brutor.pipeline.egress import ReturnPath
from brutor.pipeline.reply import Reply, StreamReply, json_reply


class Recorder:
    def __init__(self, name: str, log: list[str], answer: Reply | None = None, fail: bool = False) -> None:
        self.name, self.log, self.answer, self.fail = name, log, answer, fail

    async def __call__(self, ctx: RequestContext) -> Reply | None:
        self.log.append(self.name)
        if self.fail:
            raise unauthorized()
        if self.name == "identify":
            ctx.principal = Principal("k", "tenant-x")
        return self.answer


def make(log: list[str], tmp_path: Path, **overrides: Recorder) -> Pipeline:
    stages = {n: overrides.get(n, Recorder(n, log)) for n in ("identify", "authorize", "cache")}

    def router(ctx: RequestContext) -> object:
        log.append("route")
        return "plan-for-" + (ctx.call.resource if ctx.call else "?")

    async def caller(ctx: RequestContext, plan: object) -> Reply | StreamReply:
        log.append(f"call:{plan}")
        return json_reply(200, {"ok": True})

    egress = ReturnPath(AccessLog(str(tmp_path / "access.log")))
    return Pipeline(
        identify=stages["identify"],
        authorize=stages["authorize"],
        cache=stages["cache"],
        targets={Target.MCP: (router, caller)},
        egress=egress,
    )


def decoder(log: list[str]):  # type: ignore[no-untyped-def]
    async def decode(ctx: RequestContext) -> Call:
        log.append("decode")
        return Call(
            Target.MCP, "tools/call", "search/web", payload={"jsonrpc": "2.0", "method": "tools/call"}
        )

    return decode


def test_order_for_a_non_llm_target(tmp_path: Path) -> None:
    log: list[str] = []
    ctx = RequestContext("r1", {})
    reply = asyncio.run(make(log, tmp_path).run(ctx, decoder(log)))
    assert isinstance(reply, Reply) and reply.status == 200
    assert log == ["identify", "decode", "authorize", "cache", "route", "call:plan-for-search/web"]
    assert set(ctx.stage_ms) == {"identify", "decode", "authorize", "cache", "route"}


def test_rejected_identity_never_reads_the_body(tmp_path: Path) -> None:
    log: list[str] = []
    pipeline = make(log, tmp_path, identify=Recorder("identify", log, fail=True))
    with pytest.raises(GatewayError):
        asyncio.run(pipeline.run(RequestContext("r2", {}), decoder(log)))
    assert log == ["identify"]


def test_cache_hit_answers_before_route(tmp_path: Path) -> None:
    log: list[str] = []
    hit = json_reply(200, {"cached": True})
    pipeline = make(log, tmp_path, cache=Recorder("cache", log, answer=hit))
    reply = asyncio.run(pipeline.run(RequestContext("r3", {}), decoder(log)))
    assert reply is hit
    assert log == ["identify", "decode", "authorize", "cache"]


def test_unrouted_target_is_a_clean_404(tmp_path: Path) -> None:
    log: list[str] = []

    async def decode(ctx: RequestContext) -> Call:
        return Call(Target.A2A, "message/send", "agent-x")

    with pytest.raises(GatewayError) as info:
        asyncio.run(make(log, tmp_path).run(RequestContext("r4", {}), decode))
    assert info.value.status == 404


def test_return_path_writes_a_json_line_and_builds_the_audit_record(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    egress = ReturnPath(
        AccessLog(str(path)), cost=lambda model, p, c: (p * 2 + c) / 1e6 if model == "gpt-x" else 0.0
    )
    ctx = RequestContext("rid-1", {})
    ctx.principal = Principal("key-1", "acme")
    ctx.call = Call(Target.LLM, "chat.completions", "gpt-x", stream=True)
    ctx.status = 200
    ctx.usage.prompt_tokens, ctx.usage.completion_tokens = 12, 34
    first = egress.record(ctx)
    ctx.status, ctx.error_code = 502, "upstream_error"
    second = egress.record(ctx)
    egress._log.close()
    assert (first.tenant, first.key_id, first.resource, first.stream, first.status) == (
        "acme",
        "key-1",
        "gpt-x",
        True,
        200,
    )
    assert first.cost_usd == (12 * 2 + 34) / 1e6 and first.request_id == "rid-1"
    assert (second.status, second.error_code) == (502, "upstream_error")
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [x["status"] for x in lines] == [200, 502]
    assert lines[0]["tenant"] == "acme" and lines[0]["key_id"] == "key-1" and lines[0]["model"] == "gpt-x"
    assert lines[0]["stream"] is True and lines[0]["prompt_tokens"] == 12
    assert lines[1]["error_code"] == "upstream_error" and lines[0]["cost_usd"] == first.cost_usd


def test_return_path_strips_nul_from_client_text(tmp_path: Path) -> None:
    egress = ReturnPath(AccessLog("off"))
    ctx = RequestContext("rid-nul", {})
    ctx.principal = Principal("key-1", "acme", subject="us\x00er")
    ctx.call = Call(Target.LLM, "chat.completions", "gpt\x00-x")
    rec = egress.record(ctx)
    assert rec.resource == "gpt-x" and rec.subject == "user"
