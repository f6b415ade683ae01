"""Guardrail decisions as the audit record carries them, and the client-facing block error.

Decisions name entity types and counts, never the matched text."""

from __future__ import annotations

from typing import Any

from brutor.errors import GatewayError


def add_counts(
    entries: list[dict[str, Any]], stage: str, counts: dict[str, int], actions: dict[str, str]
) -> None:
    """Fold per-type counts into ``entries`` as one entry per (stage, action)."""
    for kind, n in counts.items():
        action = actions.get(kind, "redact")
        entry = next((e for e in entries if e["stage"] == stage and e["action"] == action), None)
        if entry is None:
            entry = {"stage": stage, "action": action, "types": {}}
            entries.append(entry)
        types = entry["types"]
        types[kind] = types.get(kind, 0) + n


def set_counts(
    entries: list[dict[str, Any]], stage: str, counts: dict[str, int], actions: dict[str, str]
) -> None:
    """Replace the entries of ``stage`` with cumulative ``counts`` (streams report running totals)."""
    entries[:] = [e for e in entries if e["stage"] != stage]
    add_counts(entries, stage, counts, actions)


def blocked(kinds: list[str] | set[str], *, stage: str) -> GatewayError:
    names = ", ".join(sorted(kinds))
    where = "request" if stage == "request" else "model's answer"
    return GatewayError(
        400,
        f"The {where} was blocked by the content policy ({names}).",
        code="content_policy_violation",
    )
