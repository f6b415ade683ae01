"""Compiled guardrail policies: one native scanner and two action tables per distinct policy, built once
when the config is loaded (or reloaded), looked up per request by tenant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from brutor._native import PiiScanner
from brutor.guardrails.config import ENTITY_TYPES, GuardrailPolicyConfig, GuardrailsConfig, PiiPolicy
from brutor.guardrails.external import ExternalCheck

# Phrasings typical of prompt injection, matched case-insensitively in one pass with the PII scan. A
# heuristic, not a classifier: it catches the common copy-paste attacks; the external callout is the
# place for a model-based detector.
INJECTION_PATTERNS = (
    r"(?i)\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:previous|prior|above|earlier|preceding|system)\s+(?:instructions|prompts?|rules|directions|guidelines)\b",
    r"(?i)\b(?:reveal|print|show|repeat|output|leak)\s+(?:me\s+)?(?:your|the)\s+(?:system\s+prompt|hidden\s+(?:instructions|prompt)|initial\s+(?:instructions|prompt)|instructions\s+above)\b",
    r"(?i)\byou\s+are\s+now\s+(?:DAN|in\s+developer\s+mode|jailbroken|unrestricted|an?\s+unfiltered)\b",
    r"(?i)\b(?:pretend|act)\s+(?:to\s+be|as\s+if\s+you\s+(?:are|were)|as)\s+(?:an?\s+)?(?:unfiltered|unrestricted|uncensored|jailbroken)\b",
    r"(?i)\bdo\s+anything\s+now\b",
)
INJECTION = "PROMPT_INJECTION"


def _actions(pii: PiiPolicy | None, cfg: GuardrailPolicyConfig, *, request: bool) -> dict[str, str]:
    """A complete table (the native side fails closed on a type it is not told about)."""
    default = pii.default if pii is not None else "allow"
    explicit = pii.actions if pii is not None else {}
    table: dict[str, str] = {kind: explicit.get(kind, default) for kind in ENTITY_TYPES}
    # Deny words and custom patterns carry their own actions; PII-policy entries still win.
    table["DENY_WORD"] = explicit.get("DENY_WORD", cfg.deny_words_action if cfg.deny_words else "allow")
    for p in cfg.custom_patterns:
        table[p.name] = explicit.get(p.name, p.action)
    table[INJECTION] = cfg.prompt_injection if request else "allow"
    return table


@dataclass(frozen=True, slots=True)
class Policy:
    scanner: PiiScanner | None
    request_actions: dict[str, str]
    response_actions: dict[str, str] | None
    max_input_chars: int | None
    max_input_tokens: int | None
    external: ExternalCheck | None

    @property
    def scans_request(self) -> bool:
        return self.scanner is not None and any(a != "allow" for a in self.request_actions.values())


def compile_policy(cfg: GuardrailPolicyConfig) -> Policy | None:
    if not cfg.enabled:
        return None
    patterns = [(p.name, p.pattern) for p in cfg.custom_patterns]
    if cfg.prompt_injection != "allow":
        patterns.append((INJECTION, "|".join(f"(?:{rx})" for rx in INJECTION_PATTERNS)))
    request = _actions(cfg.request, cfg, request=True)
    response = _actions(cfg.response, cfg, request=False) if cfg.response is not None else None
    scanner = None
    if any(a != "allow" for a in request.values()) or response is not None:
        scanner = PiiScanner(patterns, list(cfg.deny_words))
        # The native side knows only the kinds it scans for (deny words and patterns that exist).
        kinds = set(scanner.kinds)
        request = {k: a for k, a in request.items() if k in kinds}
        response = {k: a for k, a in response.items() if k in kinds} if response is not None else None
    return Policy(
        scanner=scanner,
        request_actions=request,
        response_actions=response,
        max_input_chars=cfg.max_input_chars,
        max_input_tokens=cfg.max_input_tokens,
        external=ExternalCheck(cfg.external) if cfg.external is not None else None,
    )


class Guardrails:
    """The default policy and the per-tenant ones, compiled."""

    def __init__(self, cfg: GuardrailsConfig) -> None:
        self._default = compile_policy(cfg)
        self._tenants: Mapping[str, Policy | None] = {t: compile_policy(p) for t, p in cfg.tenants.items()}
        self.active = self._default is not None or any(p is not None for p in self._tenants.values())

    def for_tenant(self, tenant: str) -> Policy | None:
        return self._tenants.get(tenant, self._default) if self._tenants else self._default
