"""Streamed redaction equals whole-text redaction for any chunking (hypothesis), and
redaction is idempotent."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pii_corpus import CUSTOM_PATTERNS, DENY_WORDS, GENERATORS, NEGATIVES, generate

from brutor._native import PiiScanner

SCANNER = PiiScanner(CUSTOM_PATTERNS, DENY_WORDS)
ACTIONS = [
    {},
    {"EMAIL": "mask", "CREDIT_CARD": "mask", "PHONE": "log", "IP_ADDRESS": "allow", "DENY_WORD": "block"},
    dict.fromkeys(SCANNER.kinds, "mask"),
]
DOCS = [d.text for d in generate(seed=99, per_kind=8, negatives=30)]

# Fragments that build entities and near misses when glued in any order.
_r = random.Random(5)
FRAGMENTS = [
    *(g(_r) for g in GENERATORS.values()),
    *(n(_r) for n in NEGATIVES),
    " ",
    "\n",
    ".",
    "-",
    "@",
    ":",
    "😀",
    "é",
    "Bearer ",
    "-----BEGIN PRIVATE KEY-----\n",
    "EMP-",
    "dark",
    "star",
    "4111",
    "+1 ",
]

NATIVE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=150)


def streamed(text: str, cuts: list[int], actions: dict[str, str]) -> tuple[str, dict[str, int], list[str]]:
    r = SCANNER.stream(actions)
    points = sorted({min(c, len(text)) for c in cuts})
    out = []
    prev = 0
    for p in [*points, len(text)]:
        out.append(r.push(text[prev:p]))
        prev = p
    out.append(r.finish())
    return "".join(out), r.counts, r.blocked


def check(text: str, cuts: list[int], actions: dict[str, str]) -> None:
    whole = SCANNER.redact(text, actions)
    assert streamed(text, cuts, actions) == (whole.text, whole.counts, whole.blocked)


texts = st.one_of(
    st.sampled_from(DOCS),
    st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join),
    st.text(alphabet=st.sampled_from(list("0123456789 -.:@+()abcdefxAKIzEMP_=/\n😀é")), max_size=200),
)


@NATIVE
@given(
    text=texts,
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=30),
    actions=st.sampled_from(ACTIONS),
)
def test_any_chunking_gives_the_whole_text_redaction(
    text: str, cuts: list[int], actions: dict[str, str]
) -> None:
    check(text, cuts, actions)


def test_char_by_char_and_fixed_chunks() -> None:
    for text in DOCS[:40]:
        for size in (1, 3, 16):
            check(text, list(range(0, len(text), size)), ACTIONS[1])


# Entities delimited as in prose. Glued together, one may only stop being an entity because of
# its neighbour ("a@x.org-----BEGIN ..." has no address; "0958 4111..." after a phone number
# ending in a four-digit group is no card, see numeric.rs) and become one once that is replaced.
delimited = st.one_of(st.sampled_from(DOCS), st.lists(st.sampled_from(FRAGMENTS), max_size=12).map(", ".join))


@NATIVE
@given(text=delimited, action=st.sampled_from(["redact", "mask"]))
def test_redaction_is_idempotent(text: str, action: str) -> None:
    # Built-in kinds only: a tenant's pattern may well match a placeholder.
    scanner = PiiScanner()
    actions = dict.fromkeys(scanner.kinds, action)
    once = scanner.redact(text, actions).text
    again = scanner.redact(once, actions)
    assert again.text == once
    assert again.counts == {}
