"""Guardrails: PII scanning and redaction (native), prompt limits, deny patterns, prompt-injection
heuristics and an optional external callout, on requests and on model output (streams included)."""
