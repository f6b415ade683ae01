"""Guardrail policy in the config file: a default for every tenant, and per-tenant overrides.

Entity types are the native scanner's (EMAIL, PHONE, CREDIT_CARD, IBAN, US_SSN, IP_ADDRESS, MAC_ADDRESS,
CLOUD_KEY, JWT, BEARER_TOKEN, PRIVATE_KEY, DENY_WORD), each custom pattern's name, and PROMPT_INJECTION.
Actions: allow, log (count only), redact (``[EMAIL]``), mask (partial, e.g. ``************1111``), block.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from brutor.config_model import ConfigModel

Action = Literal["allow", "log", "redact", "mask", "block"]
ENTITY_TYPES = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "CLOUD_KEY",
    "JWT",
    "BEARER_TOKEN",
    "PRIVATE_KEY",
    "DENY_WORD",
)


class CustomPattern(ConfigModel):
    # Upper-case; also the placeholder ([EMPLOYEE_ID]) and the type name in audit records.
    name: str = Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")
    pattern: str = Field(min_length=1, max_length=2000)
    action: Action = "redact"


class PiiPolicy(ConfigModel):
    """What happens to each entity type; types not listed get ``default``."""

    default: Action = "redact"
    actions: dict[str, Action] = Field(default_factory=dict)

    @field_validator("actions")
    @classmethod
    def _known_types(cls, value: dict[str, Action]) -> dict[str, Action]:
        for name in value:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", name):
                raise ValueError(f"'{name}' is not an entity type name (upper case, e.g. EMAIL)")
        return value


class ExternalGuardrail(ConfigModel):
    """POSTs ``{"tenant", "model", "texts"}``; expects ``{"action": "allow" | "block", "reason"?}``."""

    url: str = Field(pattern=r"^https?://")
    timeout_ms: int = Field(500, ge=1, le=60_000)
    on_error: Literal["fail_open", "fail_closed"] = "fail_closed"
    headers: dict[str, SecretStr] = Field(default_factory=dict)


class GuardrailPolicyConfig(ConfigModel):
    # Off by default: nothing is scanned unless a policy asks for it.
    enabled: bool = False
    # PII on the way in (every text the model sees) and on the way out (answers, streams included).
    request: PiiPolicy | None = None
    response: PiiPolicy | None = None
    custom_patterns: tuple[CustomPattern, ...] = ()
    deny_words: tuple[str, ...] = ()
    deny_words_action: Action = "block"
    # Heuristics for prompt-injection phrasing ("ignore all previous instructions", …) in the input.
    prompt_injection: Action = "allow"
    max_input_chars: int | None = Field(None, ge=1)
    max_input_tokens: int | None = Field(None, ge=1)
    external: ExternalGuardrail | None = None

    @field_validator("custom_patterns")
    @classmethod
    def _unique(cls, value: tuple[CustomPattern, ...]) -> tuple[CustomPattern, ...]:
        names = [p.name for p in value]
        clash = sorted(
            {n for n in names if names.count(n) > 1} | (set(names) & {*ENTITY_TYPES, "PROMPT_INJECTION"})
        )
        if clash:
            raise ValueError(f"duplicate or reserved pattern names: {clash}")
        return value


class GuardrailsConfig(GuardrailPolicyConfig):
    # Per-tenant policies replace the default one as a whole (no field-by-field merge: what a tenant's
    # policy says is all that applies to it).
    tenants: dict[str, GuardrailPolicyConfig] = Field(default_factory=dict)
