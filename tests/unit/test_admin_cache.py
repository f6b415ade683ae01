"""DELETE /admin/cache's handler: what it asks of the cache stage, and what it refuses."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from brutor.admin.cache_api import invalidate_cache
from brutor.errors import GatewayError

KEY = "0123456789abcdef0123456789abcdef"


class Stage:
    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str | None, str | None]] = []

    async def invalidate(self, tenant: str | None, model: str | None, key: str | None) -> int:
        self.calls.append((tenant, model, key))
        return 3


def run(cache: Any, params: dict[str, str]) -> Any:
    return asyncio.run(invalidate_cache(SimpleNamespace(cache=cache), params))  # type: ignore[arg-type]


def test_scopes_reach_the_stage() -> None:
    stage = Stage()
    assert run(stage, {"tenant": "acme"})["invalidated"] == 3
    run(stage, {"model": "gpt-4o"})
    run(stage, {"tenant": "acme", "model": "gpt-4o", "key": KEY})
    assert stage.calls == [("acme", None, None), (None, "gpt-4o", None), ("acme", "gpt-4o", KEY)]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({}, "tenant"),
        ({"key": KEY}, "tenant"),
        ({"tenant": "acme", "key": KEY}, "key"),
        ({"tenant": "acme", "model": "m", "key": "not-hex"}, "key"),
        ({"tenant": "acme", "force": "1"}, "force"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(params: dict[str, str], param: str) -> None:
    stage = Stage()
    with pytest.raises(GatewayError) as exc:
        run(stage, params)
    assert exc.value.status == 400 and exc.value.param == param and stage.calls == []


def test_a_gateway_without_a_cache_answers_409() -> None:
    with pytest.raises(GatewayError) as exc:
        run(None, {"tenant": "acme"})
    assert exc.value.status == 409 and exc.value.code == "cache_disabled"
