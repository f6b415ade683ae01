"""Golden tests: OpenAI bodies -> the exact bodies Mistral's strict API accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mock_mistral import validation_errors

from brutor.errors import GatewayError
from brutor.providers.mistral import chat_body, embeddings_body

GOLDEN = Path(__file__).parent / "golden"


def _load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("request_*.json")), ids=lambda p: p.stem)
def test_chat_body(path: Path) -> None:
    case = _load(path)
    original = json.dumps(case["openai"])
    body = chat_body(case["openai"])
    assert body == case["mistral"]
    assert json.dumps(case["openai"]) == original, "the client's body is not modified"
    assert validation_errors(body) == [], "Mistral's mock validator accepts it"
    assert validation_errors(case["openai"]), "... and would have refused the OpenAI body as sent"


def test_embeddings_body() -> None:
    case = _load(GOLDEN / "embeddings_dimensions.json")
    assert embeddings_body(case["openai"]) == case["mistral"]


def test_clean_messages_are_not_copied() -> None:
    messages = [{"role": "user", "content": "hi"}]
    assert chat_body({"messages": messages})["messages"][0] is messages[0]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "logprobs"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
    ],
)
def test_parameters_that_would_change_the_answer_are_refused(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(GatewayError) as exc:
        chat_body({"messages": [{"role": "user", "content": "hi"}], **extra})
    assert (exc.value.status, exc.value.param) == (400, param)


def test_empty_logit_bias_and_null_values_are_dropped() -> None:
    body = chat_body({"messages": [], "logit_bias": {}, "temperature": None, "tool_choice": "none"})
    assert body == {"messages": [], "tool_choice": "none"}
