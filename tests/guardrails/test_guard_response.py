"""The response policy: whole answers and live streams (any chunking gives the whole-text redaction)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
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


# Pieces whose JSON needs escapes: quotes, backslashes, control chars, non-ASCII (ensure_ascii
# writes \uXXXX, emoji as a surrogate pair), text that looks like escapes, and entities among them.
ESCAPED_PIECES = [
    'She said "mail me" \\ at "jane.doe@example.com"',
    "\nline two\tand a tab\r\n",
    " 😀 émoji ü 中文 \u2028 ",
    ' C:\\Users\\x\\ and \\"quoted\\" ',
    "\x01\x1f ctl, host 10.0.0.12\x7f",
    " card 4111\u00a01111 / 4111 1111 1111 1111",
    r" a literal \u00e9, \ud83d and \n ",
]


def _orjson(doc: Any) -> bytes:
    return orjson.dumps(doc)


def _ascii(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=True).encode()


def event(
    content: str | None,
    finish: str | None = None,
    index: int = 0,
    dumps: Callable[[Any], bytes] = _orjson,
) -> bytes:
    delta = {} if content is None else {"content": content}
    doc = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": index, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + dumps(doc) + b"\n\n"


def usage_event() -> bytes:
    return b'data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n'


async def _drain(reply: StreamReply) -> list[bytes]:
    return [bytes(c) async for c in reply.chunks]


def stream_through(
    chunks: list[bytes], actions: dict[str, str] = ACTIONS, mark_complete: bool = True
) -> tuple[StreamReply, list[bytes], RequestContext]:
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


def chunked(data: st.DataObject, pieces: list[str], dumps: list[Callable[[Any], bytes]]) -> list[bytes]:
    """The pieces in a drawn order, cut anywhere into deltas, as events (each serialized with a drawn
    ``dumps``) ending with finish_reason and usage events, grouped into drawn network chunks."""
    whole = "".join(data.draw(st.permutations(pieces)))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(whole) - 1), max_size=30)))
    deltas = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    events = [event(d, dumps=data.draw(st.sampled_from(dumps))) for d in deltas]
    events += [event(None, "stop"), usage_event()]
    groups = sorted(data.draw(st.sets(st.integers(1, len(events) - 1), max_size=10)))
    return [b"".join(events[a:b]) for a, b in zip([0, *groups], [*groups, len(events)], strict=True)]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_chunking_of_a_stream_gives_the_whole_text_redaction(data: st.DataObject) -> None:
    chunks = chunked(data, PIECES, [_orjson])
    whole = content_of(chunks)
    _, got, _ = stream_through(chunks)
    assert content_of(got) == SCANNER.redact(whole, ACTIONS).text
    assert got[-1].endswith(usage_event())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_chunking_with_escapes_in_both_styles_gives_the_whole_text_redaction(
    data: st.DataObject,
) -> None:
    pieces = data.draw(st.lists(st.sampled_from(ESCAPED_PIECES + PIECES), min_size=2, max_size=6))
    chunks = chunked(data, pieces, [_orjson, _ascii])
    whole = content_of(chunks)
    reply, got, ctx = stream_through(chunks)
    want = SCANNER.redact(whole, ACTIONS)
    assert content_of(got) == want.text
    assert got[-1].endswith(usage_event())
    assert reply.complete and reply.error is None
    if want.counts:
        assert ctx.guardrails == [{"stage": "response", "action": "redact", "types": want.counts}]
    # Every event is still an event of the same stream: the same fields but the content.
    for ev in b"".join(got).split(b"\n\n")[:-1]:
        doc = orjson.loads(ev.removeprefix(b"data: "))
        assert doc["id"] == "c1"
        for choice in doc["choices"]:
            assert choice["index"] == 0 and set(choice) == {"index", "delta", "finish_reason"}


def test_events_without_changes_are_forwarded_as_they_are() -> None:
    chunks = [
        event("Hello there, ", dumps=_ascii),
        b": keep-alive\n\n" + event("nothing to see here. "),
        b'data: {"error":{"message":"mail jane.doe@example.com"}}\n\n',
        event(None, "stop"),
        usage_event(),
    ]
    _, got, _ = stream_through(chunks)
    assert got == chunks


def test_tool_call_argument_deltas_are_not_redacted_in_streams() -> None:
    doc = {
        "choices": [
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"ip": "10.0.0.12"}'}}]},
                "finish_reason": None,
            }
        ]
    }
    chunk = b"data: " + orjson.dumps(doc) + b"\n\n"
    _, got, _ = stream_through([chunk, event(None, "tool_calls")])
    assert got == [chunk, event(None, "tool_calls")]


def test_a_held_tail_is_flushed_before_the_trailing_usage_event() -> None:
    _, got, _ = stream_through([event("ends with an address jane.doe@example.com"), usage_event()])
    assert content_of(got) == "ends with an address [EMAIL]"
    assert got[-1].endswith(usage_event())
    flushed = orjson.loads(got[-1].split(b"\n\n")[0][6:])
    assert flushed == {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "[EMAIL]"}, "finish_reason": None}],
    }


def test_the_last_chunk_of_a_complete_stream_is_yielded_even_when_empty() -> None:
    reply, got, _ = stream_through([event("all good. "), b""])
    assert got == [event("all good. "), b""]
    assert reply.complete


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


def test_a_block_in_a_chunk_forwards_the_events_before_it_and_not_the_rest() -> None:
    actions = {**ACTIONS, "EMAIL": "block"}
    chunk = event("one. ") + event("mail jane.doe@example.com") + event(" more") + event(None, "stop")
    reply, got, _ = stream_through([event("start. "), chunk], actions)
    # The e-mail is known complete when " more" arrives: that event is withheld, the ones before go.
    assert got == [event("start. "), event("one. ") + event("mail ")]
    assert not reply.complete
    assert reply.error is not None and reply.error.code == "content_policy_violation"
    assert "EMAIL" in reply.error.message


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
