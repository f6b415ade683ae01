"""Request transforms: parameter defaults, overrides and drops, a system-prompt prefix (OpenAI format)."""

from __future__ import annotations

from typing import Any

from brutor.routing.config import Transforms


def apply(payload: dict[str, Any], t: Transforms) -> dict[str, Any]:
    """A transformed copy (shallow; messages copied only when the system prompt changes)."""
    out = dict(payload)
    for key, value in t.defaults.items():
        out.setdefault(key, value)
    out.update(t.overrides)
    for key in t.drop:
        out.pop(key, None)
    if t.system_prefix and isinstance(out.get("messages"), list):
        out["messages"] = _with_prefix(out["messages"], t.system_prefix)
    return out


def _with_prefix(messages: list[Any], prefix: str) -> list[Any]:
    msgs = list(messages)
    for i, m in enumerate(msgs):
        if isinstance(m, dict) and m.get("role") in ("system", "developer"):
            content = m.get("content")
            if isinstance(content, str):
                msgs[i] = {**m, "content": f"{prefix}\n\n{content}" if content else prefix}
            elif isinstance(content, list):
                msgs[i] = {**m, "content": [{"type": "text", "text": prefix}, *content]}
            return msgs
    return [{"role": "system", "content": prefix}, *msgs]
