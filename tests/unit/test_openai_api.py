from __future__ import annotations

import pytest

from brutor.api.openai_api import decode_chat, decode_embeddings
from brutor.context import Target
from brutor.errors import GatewayError

MSG = b'"messages":[{"role":"user","content":"hi"}]'


def test_chat_decodes_to_a_target_neutral_call() -> None:
    call = decode_chat(b'{"model":"m",' + MSG + b',"stream":true,"tools":[{"type":"function"}]}')
    assert (call.target, call.operation, call.resource, call.stream) == (
        Target.LLM,
        "chat.completions",
        "m",
        True,
    )
    assert call.payload["tools"] == [{"type": "function"}]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"", "invalid_json", None),
        (b"{nope", "invalid_json", None),
        (b"[1]", "invalid_json", None),
        (b'{"messages":[{"role":"user"}]}', "missing_required_parameter", "model"),
        (b'{"model":5,' + MSG + b"}", "invalid_value", "model"),
        (b'{"model":"m"}', "missing_required_parameter", "messages"),
        (b'{"model":"m","messages":[]}', "invalid_value", "messages"),
        (b'{"model":"m","messages":["x"]}', "invalid_value", "messages[0]"),
        (b'{"model":"m",' + MSG + b',"stream":"yes"}', "invalid_value", "stream"),
        (
            b'{"model":"m",' + MSG + b',"stream_options":{"include_usage":true}}',
            "invalid_value",
            "stream_options",
        ),
        (b'{"model":"m",' + MSG + b',"stream":true,"stream_options":3}', "invalid_value", "stream_options"),
    ],
)
def test_chat_rejections(body: bytes, code: str, param: str | None) -> None:
    with pytest.raises(GatewayError) as info:
        decode_chat(body)
    assert info.value.status == 400
    assert (info.value.code, info.value.param) == (code, param)


def test_embeddings() -> None:
    call = decode_embeddings(b'{"model":"e","input":["a","b"]}')
    assert (call.operation, call.resource, call.stream) == ("embeddings", "e", False)
    for body in (b'{"model":"e"}', b'{"model":"e","input":[]}', b'{"model":"e","input":3}'):
        with pytest.raises(GatewayError) as info:
            decode_embeddings(body)
        assert info.value.param == "input"
