"""A lexical guard for semantic-cache hits: two prompts whose embeddings are close may still ask
different questions (see ``shared/design/CACHE.md``: flights NY→FL vs FL→NY score 0.99). Before
serving a cached answer, ``guard(a, b)`` checks that the two texts agree on the features that
typically change the answer while barely moving the embedding:

- ``numbers``: the same multiset of numbers (digits, ``1,000``, decimals, and the words two…ninety,
  hundred/thousand/million; "one" is treated as a determiner, not a number);
- ``units``: each number carries the same unit when both give one (``10 miles`` vs ``10 km``,
  ``$100`` vs ``100 euros``, ``7 am`` vs ``7 pm``), and no swap of units (each text names a unit
  the other lacks);
- ``keywords``: no antonym conflict: when both texts use a group of answer-changing words
  (buy/sell, above/below, increase/decrease, first/last, enable/disable, import/export, ...), they use
  the same pole (synonyms share one); a text that does not use the group is no conflict;
- ``negation``: both texts negated or neither (not, n't, no, never, without, un-safe…);
- ``direction``: the target of ``to``/``into`` and the source of ``from`` agree (a word that is the
  target in one text must not appear elsewhere in the other text while that text has a target of
  its own; only names and units count): "from New York to Miami" vs "from Miami to New York";
- ``reordered``: the same words in another order ("string to integer" vs "integer to string");
- ``entities`` (optional): a swap of names: each text has a capitalized word (not at the start of a
  sentence; acronyms count) that the other lacks, case-insensitively: Paris vs Rome, May vs June.

Pure Python, no dependency; conservative by design: when unsure it says "different" (a miss costs
one upstream call, a false hit serves a wrong answer).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

NUMBER_WORDS = {
    "zero": 0,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "twice": 2,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
}

# unit or currency spelling -> canonical unit
UNITS: dict[str, str] = {}
for _canon, _spellings in {
    "km": "km kms kilometer kilometers kilometre kilometres",
    "mile": "mi mile miles",
    "m": "m meter meters metre metres",
    "cm": "cm centimeter centimeters centimetre centimetres",
    "mm": "mm millimeter millimeters millimetre millimetres",
    "ft": "ft foot feet",
    "inch": "inch inches",
    "kg": "kg kgs kilo kilos kilogram kilograms",
    "g": "g gram grams",
    "lb": "lb lbs pound pounds",
    "oz": "oz ounce ounces",
    "l": "l liter liters litre litres",
    "ml": "ml milliliter milliliters millilitre millilitres",
    "gallon": "gal gallon gallons",
    "cup": "cup cups",
    "tbsp": "tbsp tablespoon tablespoons",
    "tsp": "tsp teaspoon teaspoons",
    "celsius": "c °c celsius centigrade",
    "fahrenheit": "f °f fahrenheit",
    "kmh": "km/h kmh kph",
    "mph": "mph",
    "usd": "usd $ dollar dollars buck bucks",
    "eur": "eur € euro euros",
    "gbp": "gbp £ sterling",
    "jpy": "jpy ¥ yen",
    "percent": "% percent pct per-cent",
    "second": "seconds secs sec",
    "minute": "minute minutes min mins",
    "hour": "hour hours hr hrs h",
    "day": "day days",
    "night": "night nights",
    "week": "week weeks",
    "month": "month months",
    "year": "year years yr yrs",
    "kb": "kb kilobyte kilobytes",
    "mb": "mb megabyte megabytes",
    "gb": "gb gigabyte gigabytes",
    "tb": "tb terabyte terabytes",
    "byte": "byte bytes",
    "am": "am a.m.",
    "pm": "pm p.m.",
}.items():
    for _s in _spellings.split():
        UNITS[_s] = _canon
# spellings too ambiguous to count as a unit unless they follow a number ("in", "m", "g", ...)
_ONLY_AFTER_NUMBER = {"m", "g", "l", "c", "f", "h", "min", "sec", "am", "pm", "mi", "gal", "a.m.", "p.m."}

# Groups of answer-changing words: each group lists its poles (synonyms share a pole). Two texts
# conflict when both use the group and their poles differ ("buy" vs "sell"); a text that does not
# use the group at all is no conflict (paraphrases often drop such words).
KEYWORD_GROUPS: list[list[str]] = [
    ["buy buying bought purchase purchasing", "sell selling sold", "lease leasing rent renting"],
    ["above", "below"],
    [
        "increase increasing raise raising rise rising grow growing",
        "decrease decreasing lower lowering reduce reducing drop dropping fall falling shrink",
    ],
    ["up", "down"],
    ["upgrade", "downgrade"],
    ["high higher highest", "low lowest"],
    ["top", "bottom"],
    ["maximum max most", "minimum min least fewest"],
    ["largest biggest greatest larger bigger greater", "smallest smaller"],
    ["longest", "shortest"],
    ["deepest", "shallowest"],
    ["first earliest", "last final latest", "second", "third", "next"],
    ["before prior", "after"],
    ["within", "after"],
    ["start starting begin beginning", "end ending finish"],
    ["add adding invite", "remove removing delete deleting"],
    ["import importing", "export exporting"],
    ["upload uploading", "download downloading"],
    ["encrypt encrypting encryption", "decrypt decrypting decryption"],
    ["enable enabling", "disable disabling"],
    ["on", "off"],
    ["accept accepting", "decline declining reject rejecting"],
    ["ascending asc", "descending desc"],
    ["read reading", "write writing"],
    ["deposit depositing", "withdraw withdrawing withdrawal"],
    ["win won winner", "lose lost loser"],
    ["north northern northernmost", "south southern southernmost"],
    ["east eastern easternmost", "west western westernmost"],
    ["warm warmer warmest hot hotter", "cold colder coldest"],
    [
        "fast faster fastest quick quickest",
        "slow slower slowest",
        "cheap cheaper cheapest",
        "expensive pricier",
    ],
    ["best better", "worst worse"],
    ["near nearer nearest closest closer", "far farther farthest furthest"],
    ["left", "right"],
    ["male man men boy boys", "female woman women girl girls"],
    ["plus +", "minus -"],
    ["greater more", "less fewer"],
    ["over", "under"],
    ["times multiply multiplied", "divide divided"],
    ["cancel cancellation", "pause", "renew renewal", "change"],
    ["temporary temporarily", "permanent permanently"],
    ["keep keeping", "discard discarding"],
    ["install installing", "uninstall uninstalling"],
    ["cooked", "raw uncooked"],
    ["junior", "senior"],
    ["new", "used"],
    ["domestic", "international"],
    ["weekday weekdays", "weekend weekends"],
    ["morning", "evening", "afternoon", "night"],
    ["today", "tomorrow", "yesterday", "tonight"],
    ["early", "late"],
    ["sort sorting", "reverse reversing"],
]
KEYWORDS: dict[str, list[tuple[int, int]]] = {}
for _g, _poles in enumerate(KEYWORD_GROUPS):
    for _p, _words in enumerate(_poles):
        for _w in _words.split():
            KEYWORDS.setdefault(_w, []).append((_g, _p))

NEGATIONS = {
    "not",
    "no",
    "never",
    "without",
    "none",
    "nobody",
    "nothing",
    "cannot",
    "neither",
    "nor",
    "unsafe",
    "illegal",
    "unable",
}

_ARTICLES = {"a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that"}
_TOKEN = re.compile(
    r"[$€£¥]|°[cf]\b|\d[\d,]*(?:\.\d+)?|[a-z]+(?:/[a-z]+|\.[a-z]\.)?|[%+\u00d7\u00f7]|(?<=\s)-(?=\s)",
    re.IGNORECASE,
)
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n)\W*([A-Za-z][\w.&'-]*)")
_WORD = re.compile(r"\b[A-Za-z][A-Za-z0-9&'-]*")


def _number(tok: str) -> float | None:
    if tok[0].isdigit():
        try:
            return float(tok.replace(",", ""))
        except ValueError:
            return None
    return NUMBER_WORDS.get(tok)


@dataclass
class Features:
    """What ``guard`` compares, extracted from one text."""

    tokens: list[str] = field(default_factory=list)
    numbers: Counter[float] = field(default_factory=Counter)
    number_units: dict[float, set[str]] = field(default_factory=dict)
    units: set[str] = field(default_factory=set)
    poles: dict[int, set[int]] = field(default_factory=dict)
    negated: bool = False
    targets: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    entities: set[str] = field(default_factory=set)


def features(text: str) -> Features:
    f = Features()
    text = text.replace("\u2019", "'")
    toks = [m.group(0).lower() for m in _TOKEN.finditer(text.replace("n't", " not"))]
    f.tokens = [t for t in toks if t not in _ARTICLES]
    capitalized = {m.group(0).lower() for m in _WORD.finditer(text) if m.group(0)[0].isupper()}
    prev_num: float | None = None
    pending_currency: str | None = None
    for i, t in enumerate(toks):
        n = _number(t)
        if n is not None:
            f.numbers[n] += 1
            units = f.number_units.setdefault(n, set())
            if pending_currency:
                units.add(pending_currency)
            prev_num, pending_currency = n, None
            continue
        if t in ("$", "€", "£", "¥"):
            pending_currency = UNITS[t]
            f.units.add(UNITS[t])
            prev_num = None
            continue
        if t in ("degree", "degrees") and prev_num is not None:
            continue  # "30 degrees Celsius": the unit is the next word
        unit = UNITS.get(t)
        if unit is not None and (prev_num is not None or t not in _ONLY_AFTER_NUMBER):
            f.units.add(unit)
            if prev_num is not None:
                f.number_units[prev_num].add(unit)
        for g, p in KEYWORDS.get(t, ()):
            f.poles.setdefault(g, set()).add(p)
        if t in NEGATIONS:
            f.negated = not f.negated
        if t in ("to", "into", "from"):
            _mark_direction(f, t, toks, i + 1, capitalized)
        prev_num, pending_currency = None, None
    f.entities = _entities(text)
    return f


def _mark_direction(f: Features, marker: str, toks: list[str], j: int, capitalized: set[str]) -> None:
    """Record the word after ``to``/``into`` (a target) or ``from`` (a source), articles skipped;
    only names and units: "to visit" or "to buy" are verbs, not destinations."""
    while j < len(toks) and toks[j] in _ARTICLES:
        j += 1
    if j < len(toks) and (toks[j] in capitalized or toks[j] in UNITS) and _number(toks[j]) is None:
        (f.sources if marker == "from" else f.targets).add(toks[j])


def _entities(text: str) -> set[str]:
    """Capitalized words not at the start of a sentence, and acronyms; units left out (the unit
    rule compares those: "Celsius" vs "°C")."""
    starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    out = set()
    for m in _WORD.finditer(text):
        w = m.group(0)
        acronym = len(w) >= 2 and w.isupper()
        if w == "I" or not w[0].isupper() or (m.start() in starts and not acronym) or w.lower() in UNITS:
            continue
        out.add(w.lower().removesuffix("'s"))
    return out


def _direction_conflict(marked_a: set[str], marked_b: set[str], tokens_b: list[str]) -> bool:
    """A word marked (target or source) in A occurs unmarked in B while B marks another word."""
    if not marked_a or not marked_b:
        return False
    return any(w in tokens_b and w not in marked_b for w in marked_a)


def _unmatched(entities: set[str], other_text: str) -> set[str]:
    low = other_text.lower()
    return {e for e in entities if not re.search(rf"\b{re.escape(e)}\b", low)}


def mismatches(a: str, b: str, *, entities: bool = True, numbers_only: bool = False) -> list[str]:
    """The reasons why ``a`` and ``b`` may ask different questions (empty: no reason found)."""
    fa, fb = features(a), features(b)
    out = []
    if fa.numbers != fb.numbers:
        out.append("numbers")
    if numbers_only:
        return out
    if any(
        fa.number_units.get(n) and fb.number_units.get(n) and fa.number_units[n] != fb.number_units[n]
        for n in fa.numbers
    ) or (fa.units - fb.units and fb.units - fa.units):
        out.append("units")
    if any(g in fb.poles and fb.poles[g] != poles for g, poles in fa.poles.items()):
        out.append("keywords")
    if fa.negated != fb.negated:
        out.append("negation")
    if (
        _direction_conflict(fa.targets, fb.targets, fb.tokens)
        or _direction_conflict(fb.targets, fa.targets, fa.tokens)
        or _direction_conflict(fa.sources, fb.sources, fb.tokens)
        or _direction_conflict(fb.sources, fa.sources, fa.tokens)
    ):
        out.append("direction")
    if fa.tokens != fb.tokens and Counter(fa.tokens) == Counter(fb.tokens):
        out.append("reordered")  # same words, another order: "string to integer" / "integer to string"
    if entities and _unmatched(fa.entities, b) and _unmatched(fb.entities, a):
        out.append("entities")  # each names something the other does not: Paris vs Rome
    return out


def guard(a: str, b: str, *, entities: bool = True, numbers_only: bool = False) -> bool:
    """Whether a cached answer to ``a`` may be served for ``b`` (given their embeddings are close):
    True when no answer-changing difference is found. ``numbers_only`` checks the numbers alone."""
    return not mismatches(a, b, entities=entities, numbers_only=numbers_only)
