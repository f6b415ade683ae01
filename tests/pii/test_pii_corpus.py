"""Precision and recall per kind of the native PII scanner on the generated labelled corpus.

Spans must match exactly (kind, start, end). The corpus (``pii_corpus.py``) holds 300 positives
of every kind in realistic sentences plus 1,000 documents of hard negatives only; the floors are
0.95 per kind, the figures measured are printed (``pytest -s``) and recorded in bench/RESULTS.md.
"""

from __future__ import annotations

import pytest
from pii_corpus import CUSTOM_PATTERNS, DENY_WORDS, KINDS, Doc, Span, evaluate, generate

from brutor._native import PiiScanner

FLOOR = 0.95


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return generate()


def test_generator_is_deterministic(docs: list[Doc]) -> None:
    assert generate() == docs
    assert {kind for doc in docs for kind, _, _ in doc.spans} == set(KINDS)


def test_precision_and_recall_per_kind(docs: list[Doc]) -> None:
    scanner = PiiScanner(CUSTOM_PATTERNS, DENY_WORDS)

    def scan(text: str) -> list[Span]:
        return [(s.kind, s.start, s.end) for s in scanner.scan(text)]

    scores = evaluate(docs, scan)
    for kind, s in scores.items():
        print(
            f"{kind:14} precision {s.precision:.3f} recall {s.recall:.3f} (tp {s.tp}, fp {s.fp}, fn {s.fn})"
        )
    low = {
        k: (round(s.precision, 3), round(s.recall, 3))
        for k, s in scores.items()
        if min(s.precision, s.recall) < FLOOR
    }
    assert not low, f"below {FLOOR}: {low}"


@pytest.mark.parametrize(
    "text",
    [
        "Order 4111111111111112 shipped",  # Luhn-invalid
        "Order #98765432101234",
        "ISBN 978-3-16-148410-0 and 0-306-40615-2",
        "released v1.2.3 (1.2.3) on 2024-05-01T12:30:00Z",
        "epoch 1714567890 or 1714567890123",
        "id 550e8400-e29b-41d4-a716-446655440000",
        "SSN-like 666-12-3456 900-12-3456 000-12-3456 123-00-4567 123-45-0000",
        "IBAN DE89370400440532013001 (bad check digits)",
        "256.1.1.1 and 1.2.3.4.5 and 10.0.0",
        "at 12:30:00, ratio 16:9, std::vector",
        "scikit-learn, the Bearer of bad news, never share your PRIVATE KEY",
    ],
)
def test_hard_negatives(text: str) -> None:
    assert PiiScanner().scan(text) == []
