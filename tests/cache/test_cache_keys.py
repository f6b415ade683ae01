"""Canonical keys, bypass rules and the semantic scope of OpenAI chat bodies."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from brutor.cache.keys import bypass_reason, exact_key, last_user_text, semantic_scope


def body(**extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is 2+2?"},
        ],
        "temperature": 0.0,
    }
    doc.update(extra)
    return doc


def key(doc: dict[str, Any], tenant: str = "t1", model: str = "gpt-4o") -> str:
    return exact_key(tenant, model, doc)


def test_exact_key_is_a_blake2b_hex_digest() -> None:
    k = key(body())
    assert len(k) == 64 and int(k, 16) >= 0


def test_field_order_does_not_change_the_key() -> None:
    doc = body(top_p=0.5, seed=7)
    reordered = dict(reversed(list(doc.items())))
    reordered["messages"] = [dict(reversed(list(m.items()))) for m in doc["messages"]]
    assert key(doc) == key(reordered)


@pytest.mark.parametrize(
    "irrelevant",
    [
        {"stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"user": "alice"},
        {"metadata": {"run": "42"}},
        {"service_tier": "flex"},
        {"store": True},
        {"brutor": {"trace": True}},
        {"seed": None},
    ],
)
def test_fields_that_do_not_change_the_answer_do_not_change_the_key(irrelevant: dict[str, Any]) -> None:
    assert key(body(**irrelevant)) == key(body())


@pytest.mark.parametrize(
    "param",
    [
        {"temperature": 0.3},
        {"top_p": 0.9},
        {"max_tokens": 10},
        {"max_completion_tokens": 10},
        {"stop": ["\n"]},
        {"seed": 1},
        {"presence_penalty": 0.5},
        {"frequency_penalty": 0.5},
        {"logit_bias": {"50256": -100}},
        {"response_format": {"type": "json_object"}},
        {"reasoning_effort": "high"},
        {"n": 2},
        {"some_future_parameter": 1},  # unknown fields count: split rather than merge
    ],
)
def test_output_changing_parameters_change_the_key(param: dict[str, Any]) -> None:
    assert key(body(**param)) != key(body())


def test_tenant_model_and_messages_change_the_key() -> None:
    base = key(body())
    assert key(body(), tenant="t2") != base
    assert key(body(), model="gpt-4o-mini") != base
    other = body()
    other["messages"][1]["content"] = "What is 2+3?"
    assert key(other) != base
    other = body()
    other["messages"][0]["role"] = "developer"
    assert key(other) != base


def test_text_parts_and_string_content_share_a_key() -> None:
    parts = body()
    parts["messages"][1]["content"] = [{"type": "text", "text": "What is 2+2?"}]
    assert key(parts) == key(body())
    two = body()
    two["messages"][1]["content"] = [{"type": "text", "text": "What"}, {"type": "text", "text": "is 2+2?"}]
    assert key(two) != key(body())


def test_tool_history_changes_the_key() -> None:
    doc = body()
    doc["messages"].insert(1, {"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]})
    assert key(doc) != key(body())


def test_key_does_not_mutate_the_payload() -> None:
    doc = body(stream=True)
    snapshot = copy.deepcopy(doc)
    key(doc)
    semantic_scope("t1", "gpt-4o", doc)
    assert doc == snapshot


# bypass rules


def test_plain_body_is_cacheable() -> None:
    assert bypass_reason(body(), {}, 0.5) is None
    assert bypass_reason(body(), None, None) is None


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"tool_choice": "auto"}, "tools"),
        ({"functions": [{"name": "f"}]}, "tools"),
        ({"function_call": "auto"}, "tools"),
        ({"n": 3}, "n"),
        ({"temperature": 0.9}, "temperature"),
        ({"brutor": {"cache": False}}, "body-flag"),
    ],
)
def test_bypass_reasons(extra: dict[str, Any], reason: str) -> None:
    assert bypass_reason(body(**extra), {}, 0.5) == reason


def test_n_of_one_and_a_cache_true_flag_are_cacheable() -> None:
    assert bypass_reason(body(n=1, brutor={"cache": True}), {}, 0.5) is None


def test_missing_temperature_counts_as_openai_default() -> None:
    doc = body()
    del doc["temperature"]
    assert bypass_reason(doc, {}, 0.5) == "temperature"
    assert bypass_reason(doc, {}, 1.0) is None
    assert bypass_reason(doc, {}, None) is None


@pytest.mark.parametrize(
    "value", ["no-cache", "No-Store", "max-age=0, no-cache", "private,no-store", " max-age=5 , NO-CACHE "]
)
def test_cache_control_header_bypasses(value: str) -> None:
    assert bypass_reason(body(), {"cache-control": value}, None) == "no-cache"
    assert bypass_reason(body(), {"Cache-Control": value}, None) == "no-cache"


@pytest.mark.parametrize("value", ["max-age=60", "no-transform", "", "x-no-cache"])
def test_other_cache_control_directives_do_not_bypass(value: str) -> None:
    assert bypass_reason(body(), {"cache-control": value}, None) is None


def test_image_in_last_user_turn_bypasses() -> None:
    doc = body()
    doc["messages"][1]["content"] = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    assert bypass_reason(doc, {}, None) == "not-text"
    assert last_user_text(doc) is None


def test_image_in_an_earlier_turn_does_not_bypass() -> None:
    doc = body()
    doc["messages"].insert(1, {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]})
    doc["messages"].insert(2, {"role": "assistant", "content": "A cat."})
    assert bypass_reason(doc, {}, None) is None


# semantic scope


def conversation(question: str, system: str = "You are terse.", earlier: str = "Hi") -> dict[str, Any]:
    return body(
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": earlier},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": question},
        ]
    )


def scope(doc: dict[str, Any], tenant: str = "t1", model: str = "gpt-4o") -> str:
    return semantic_scope(tenant, model, doc)


def test_scope_excludes_the_last_user_turn() -> None:
    assert scope(conversation("What is 2+2?")) == scope(conversation("How much is two plus two?"))


def test_scope_includes_system_prompt_and_earlier_turns() -> None:
    base = scope(conversation("q"))
    assert scope(conversation("q", system="You are verbose.")) != base
    assert scope(conversation("q", earlier="Hello")) != base


def test_scope_includes_tenant_model_and_parameters() -> None:
    base = scope(conversation("q"))
    assert scope(conversation("q"), tenant="t2") != base
    assert scope(conversation("q"), model="other") != base
    assert scope(conversation("q") | {"max_tokens": 5}) != base
    assert scope(conversation("q") | {"stream": True}) == base


def test_scope_differs_from_the_exact_key() -> None:
    doc = conversation("q")
    assert scope(doc) != key(doc)


def test_last_user_text() -> None:
    assert last_user_text(conversation("What is 2+2?")) == "What is 2+2?"
    parts = body(
        messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
    )
    assert last_user_text(parts) == "a\nb"
    assert last_user_text(body(messages=[{"role": "system", "content": "s"}])) is None
    assert last_user_text(body(messages=[{"role": "user", "content": ""}])) is None
