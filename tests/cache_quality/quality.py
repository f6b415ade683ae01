"""Scoring of the labelled pairs: cosine of each pair under the real embedder, then hit rate
(paraphrases served from the cache) and false-hit rate (near-misses served a wrong answer) at a
threshold, optionally behind the lexical guard. Shared by ``test_pairs.py`` and
``bench/cache_quality.py``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from brutor.cache.guard import guard

PAIRS = Path(__file__).with_name("pairs.jsonl")

# name -> guard predicate (None: the cosine alone decides)
GUARDS: dict[str, Callable[[str, str], bool] | None] = {
    "none": None,
    "numbers": lambda a, b: guard(a, b, numbers_only=True),
    "lexical": lambda a, b: guard(a, b, entities=False),
    "full": guard,
}


def load_pairs(path: Path = PAIRS) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@dataclass
class Scored:
    pair: dict[str, Any]
    cos: float

    @property
    def near_miss(self) -> bool:
        return bool(self.pair["kind"] == "near_miss")


def score(
    pairs: Iterable[dict[str, Any]], embed: Callable[[str], bytes], cosine: Callable[[bytes, bytes], float]
) -> tuple[list[Scored], float]:
    """Cosines of the pairs, and the mean embedding time per distinct text (seconds)."""
    pairs = list(pairs)
    texts = sorted({t for p in pairs for t in (p["a"], p["b"])})
    start = time.perf_counter()
    vecs = {t: embed(t) for t in texts}
    per_text = (time.perf_counter() - start) / max(len(texts), 1)
    return [Scored(p, float(cosine(vecs[p["a"]], vecs[p["b"]]))) for p in pairs], per_text


@dataclass
class Rates:
    hits: int
    paraphrases: int
    false_hits: int
    near_misses: int

    @property
    def hit_rate(self) -> float:
        return self.hits / self.paraphrases if self.paraphrases else 0.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.near_misses if self.near_misses else 0.0


def served(s: Scored, threshold: float, guard_name: str) -> bool:
    g = GUARDS[guard_name]
    return s.cos >= threshold and (g is None or g(s.pair["a"], s.pair["b"]))


def rates(scored: Iterable[Scored], threshold: float, guard_name: str) -> Rates:
    r = Rates(0, 0, 0, 0)
    for s in scored:
        hit = served(s, threshold, guard_name)
        if s.near_miss:
            r.near_misses += 1
            r.false_hits += hit
        else:
            r.paraphrases += 1
            r.hits += hit
    return r
