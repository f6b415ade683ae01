"""A labelled PII corpus, generated deterministically (seeded ``random.Random``; no Faker).

Positives of every entity kind are embedded in realistic sentences (ASCII and not, markdown,
quotes, line breaks), with their exact ``str`` spans as the labels. Hard negatives are things that
look like entities but are not: Luhn-invalid card numbers, order ids, version strings, ISBNs,
dates, timestamps, UUIDs, git SHAs, invalid SSN ranges, IBANs with wrong check digits, and so on.

Used by ``tests/pii`` (precision/recall floors) and ``bench/pii_scan.py`` (figures and bench text).
The generator is written against the formats the native scanner documents, so the figures
measure how well the scanner keeps to them (and rejects the hard negatives), not how it would
fare on formats it does not claim (bare 10-digit phone numbers, lower-case IBANs, ...).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pii_entities import CUSTOM_PATTERNS, DENY_WORDS, GENERATORS, KINDS, NEGATIVES

__all__ = [
    "CUSTOM_PATTERNS",
    "DENY_WORDS",
    "GENERATORS",
    "KINDS",
    "NEGATIVES",
    "Doc",
    "Score",
    "Span",
    "bench_text",
    "evaluate",
    "generate",
]

R = random.Random

Span = tuple[str, int, int]


@dataclass(frozen=True)
class Doc:
    text: str
    spans: tuple[Span, ...]


LABELS = {
    "EMAIL": "email",
    "PHONE": "phone number",
    "CREDIT_CARD": "card number",
    "IBAN": "IBAN",
    "US_SSN": "SSN",
    "IP_ADDRESS": "server address",
    "MAC_ADDRESS": "MAC",
    "CLOUD_KEY": "API key",
    "JWT": "session token",
    "BEARER_TOKEN": "auth header",
    "PRIVATE_KEY": "key",
    "DENY_WORD": "codename",
    "EMPLOYEE_ID": "employee id",
}

# `{}` is the item, `{label}` a word for its kind.
TEMPLATES = [
    "Please contact me at {} for details.",
    "My {label} is {}.",
    "{} — that's the one you asked for.",
    "Details: ({}), thanks!",
    "Grüße aus München, {label}: {} 😀",
    "日本語のテキスト {} を確認してください。",
    "Here it is:\n{}\nLet me know if anything else is needed.",
    '"{}"',
    "- {label}: {}\n- status: pending",
    "Set value={} in the config, then restart.",
    "**{label}**: `{}`",
    "Sure! The {label} you need is {}, as requested.",
    "{}",
]


FILLER = [
    "The meeting moved to Thursday.",
    "We shipped 3 releases this quarter.",
    "Le rapport est prêt à 90 %.",
    "Die Lieferung kommt morgen früh.",
    "Thanks for the quick reply!",
    "Revenue grew 12% year over year.",
    "See section 4.2 of the handbook.",
    "这是一个测试句子。",
]


# --------------------------------------------------------------------------- documents


def _fill(r: R, template: str, item: str, label: str) -> tuple[str, int]:
    """The sentence and the index of ``item`` in it."""
    head, tail = template.split("{}", 1)
    head = head.replace("{label}", label)
    return head + item + tail.replace("{label}", label), len(head)


def _compose(r: R, parts: Iterable[tuple[str, str | None]]) -> Doc:
    """Joins (item, kind or None) sentences with filler into one document."""
    text = ""
    spans: list[Span] = []
    for item, kind in parts:
        if text:
            text += r.choice([" ", "\n", "\n\n", " " + r.choice(FILLER) + " "])
        label = LABELS[kind] if kind else r.choice(["reference", "number", "value", "id"])
        sentence, at = _fill(r, r.choice(TEMPLATES), item, label)
        if kind:
            spans.append((kind, len(text) + at, len(text) + at + len(item)))
        text += sentence
    return Doc(text, tuple(spans))


def generate(seed: int = 20261127, per_kind: int = 300, negatives: int = 1000) -> list[Doc]:
    """``per_kind`` positives of every kind (one to three per document, with filler and hard
    negatives around) and ``negatives`` documents of hard negatives only."""
    r = random.Random(seed)
    items: list[tuple[str, str | None]] = [(GENERATORS[k](r), k) for k in KINDS for _ in range(per_kind)]
    r.shuffle(items)
    docs: list[Doc] = []
    while items:
        n = min(len(items), r.randint(1, 3))
        parts = [items.pop() for _ in range(n)]
        if r.random() < 0.3:
            parts.insert(r.randrange(len(parts) + 1), (r.choice(NEGATIVES)(r), None))
        docs.append(_compose(r, parts))
    for _ in range(negatives):
        docs.append(_compose(r, [(r.choice(NEGATIVES)(r), None) for _ in range(r.randint(1, 3))]))
    return docs


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(docs: Iterable[Doc], scan: Callable[[str], Iterable[Span]]) -> dict[str, Score]:
    """Exact-span precision and recall per kind of ``scan`` (text -> (kind, start, end))."""
    scores = {k: Score() for k in KINDS}
    for doc in docs:
        gold = set(doc.spans)
        found = set(scan(doc.text))
        for kind, _, _ in found & gold:
            scores[kind].tp += 1
        for kind, _, _ in found - gold:
            scores.setdefault(kind, Score()).fp += 1
        for kind, _, _ in gold - found:
            scores[kind].fn += 1
    return scores


def bench_text(size: int, seed: int = 7) -> str:
    """About ``size`` chars of prose with a few entities (roughly one per 400 chars)."""
    r = random.Random(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        if r.random() < 0.1:
            kind = r.choice(["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "CLOUD_KEY", "US_SSN"])
            sentence, _ = _fill(r, r.choice(TEMPLATES[:6]), GENERATORS[kind](r), LABELS[kind])
        elif r.random() < 0.15:
            sentence, _ = _fill(r, "Reference {} noted.", r.choice(NEGATIVES)(r), "")
        else:
            sentence = r.choice(FILLER)
        parts.append(sentence)
        total += len(sentence) + 1
    return " ".join(parts)[:size]
