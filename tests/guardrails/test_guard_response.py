"""The response policy: whole answers and live streams (any chunking gives the whole-text redaction)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brutor._native import PiiScanner
from brutor.context import RequestContext
from brutor.errors import GatewayError
from brutor.guardrails.response import OutputGuard
from brutor.pipeline.reply import Reply, StreamReply

SCANNER = PiiScanner()
ACTIONS = {k: "redact" for k in SCANNER.kinds}
PIECES = [
    "Contact jane.doe@example.com",
    " or call +44 20 7946 0958",
    ", card 4111 1111 1111 1111",
    ", host 10.0.0.12",
    " and that is all",
    " — thanks!",
]


def event(content: str | None, finish: str | None = None, index: int = 0) -> bytes:
    delta = {} if content is None else {"content": content}
    doc = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(doc) + b"\n\n"


def usage_event() -> bytes:
    return b'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n'


async def _drain(reply: StreamReply) -> list[bytes]:
    return [bytes(c) async for c in reply.chunks]


def stream_through(
    chunks: list[bytes], actions: dict[str, str] = ACTIONS, mark_complete: bool = True
) -> tuple[StreamReply, list[bytes]]:
    reply: StreamReply

    async def source() -> AsyncIterator[bytes]:
        for i, c in enumerate(chunks):
            if mark_complete and i == len(chunks) - 1:
                reply.complete = True
            yield c

    async def aclose() -> None:
        return None

    reply = StreamReply(200, [], source(), aclose)
    ctx = RequestContext("r", {})
    out = OutputGuard(SCANNER, actions).apply(ctx, reply)
    assert out is reply
    got = asyncio.run(_drain(reply))
    return reply, got, ctx


def content_of(chunks: list[bytes]) -> str:
    text = []
    for chunk in chunks:
        for ev in chunk.split(b"\n\n"):
            if ev.startswith(b"data: {"):
                for choice in orjson.loads(ev[6:]).get("choices", []):
                    text.append((choice.get("delta") or {}).get("content") or "")
    return "".join(text)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_chunking_of_a_stream_gives_the_whole_text_redaction(data: st.DataObject) -> None:
    whole = "".join(data.draw(st.permutations(PIECES)))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(whole) - 1), max_size=30)))
    deltas = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    events = [event(d) for d in deltas] + [event(None, "stop"), usage_event()]
    groups = sorted(data.draw(st.sets(st.integers(1, len(events) - 1), max_size=10)))
    chunks = [b"".join(events[a:b]) for a, b in zip([0, *groups], [*groups, len(events)], strict=True)]
    _, got, _ = stream_through(chunks)
    assert content_of(got) == SCANNER.redact(whole, ACTIONS).text
    assert got[-1].endswith(usage_event())


def test_stream_emits_early_and_holds_only_a_possible_entity() -> None:
    _, got, _ = stream_through(
        [event("Hello there, "), event("write to jane"), event(".doe@example.com now"), event(None, "stop")]
    )
    assert content_of(got[:1]) == "Hello there, "
    assert "jane" not in content_of(got)
    assert content_of(got) == "Hello there, write to [EMAIL] now"


def test_blocked_entity_ends_the_stream_with_an_error() -> None:
    actions = {**ACTIONS, "CREDIT_CARD": "block"}
    reply, got, ctx = stream_through(
        [event("fine so far. "), event("card 4111 1111 1111 1111 ok"), event(None, "stop")], actions
    )
    assert reply.error is not None and reply.error.code == "content_policy_violation"
    assert not reply.complete
    assert "4111" not in content_of(got)
    assert ctx.guardrails == [{"stage": "response", "action": "block", "types": {"CREDIT_CARD": 1}}]


def test_a_tail_held_when_the_stream_completes_without_finish_reason_is_flushed() -> None:
    _, got, _ = stream_through([event("ends with an address jane.doe@example.com")])
    assert content_of(got) == "ends with an address [EMAIL]"


def test_several_choices_are_redacted_independently() -> None:
    chunks = [
        event("a jane.doe@", index=0) + event("b 10.0.", index=1),
        event("example.com", index=0) + event("0.12", index=1),
        event(None, "stop", 0) + event(None, "stop", 1),
    ]
    _, got, _ = stream_through(chunks)
    per: dict[int, str] = {}
    for chunk in got:
        for ev in chunk.split(b"\n\n"):
            if ev.startswith(b"data: {"):
                for c in orjson.loads(ev[6:])["choices"]:
                    per[c["index"]] = per.get(c["index"], "") + ((c.get("delta") or {}).get("content") or "")
    assert per == {0: "a [EMAIL]", 1: "b [IP_ADDRESS]"}


def whole_reply(doc: dict[str, Any]) -> Reply:
    return Reply(200, [("content-type", "application/json")], orjson.dumps(doc))


def test_whole_answers_content_refusal_and_tool_arguments() -> None:
    doc = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "mail jane.doe@example.com",
                    "tool_calls": [{"function": {"name": "f", "arguments": '{"ip": "10.0.0.12"}'}}],
                },
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "refusal": "no, 4111 1111 1111 1111"},
            },
        ],
        "usage": {"prompt_tokens": 3},
    }
    ctx = RequestContext("r", {})
    out = OutputGuard(SCANNER, ACTIONS).apply(ctx, whole_reply(doc))
    assert isinstance(out, Reply)
    got = orjson.loads(out.body)
    assert got["choices"][0]["message"]["content"] == "mail [EMAIL]"
    assert got["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"ip": "[IP_ADDRESS]"}'
    assert got["choices"][1]["message"]["refusal"] == "no, [CREDIT_CARD]"
    assert got["usage"] == {"prompt_tokens": 3}
    assert ctx.guardrails == [
        {"stage": "response", "action": "redact", "types": {"EMAIL": 1, "IP_ADDRESS": 1, "CREDIT_CARD": 1}}
    ]


def test_whole_answer_block_and_errors_pass_through() -> None:
    ctx = RequestContext("r", {})
    guard = OutputGuard(SCANNER, {**ACTIONS, "EMAIL": "block"})
    with pytest.raises(GatewayError) as info:
        guard.apply(ctx, whole_reply({"choices": [{"message": {"content": "jane.doe@example.com"}}]}))
    assert info.value.code == "content_policy_violation" and "jane" not in info.value.message
    error = Reply(429, [], b'{"error": {"message": "jane.doe@example.com"}}')
    assert guard.apply(ctx, error) is error
