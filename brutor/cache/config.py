"""The cache section of the config: off unless enabled (a gateway must not replay answers by surprise)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from brutor.config_model import ConfigModel


class CacheConfig(ConfigModel):
    enabled: bool = False
    # Absolute: a hit never extends it.
    ttl_seconds: float = Field(3600.0, gt=0, le=30 * 86400)
    # The semantic tier (embedding of the last user turn); the exact tier is always on when enabled.
    semantic: bool = True
    # Chosen on the labelled pair set (tests/cache_quality, bench/RESULTS.md): with the lexical guard,
    # 0.96 kept false hits at 0/67 on the frozen test split (cosine alone cannot reach 1 %).
    threshold: float = Field(0.96, gt=0, le=1)
    # Requests sampled above this temperature are not cached (their answers are meant to vary).
    max_temperature: float = Field(1.0, ge=0, le=2)
    entries: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    index: Literal["memory", "qdrant"] = "memory"
    qdrant_url: str | None = None
    max_entries: int = Field(10_000, ge=1, le=10_000_000)
    # Larger answers are not stored (a replay must stay cheap, and Redis values small).
    max_entry_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    # How often expired entries and vectors are purged (lookups skip them in between).
    purge_interval_seconds: float = Field(60.0, gt=0, le=86400)
