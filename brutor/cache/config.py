"""The cache section of the config: off unless enabled (a gateway must not replay answers by surprise)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

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
    # Where the semantic tier's vectors come from: the built-in model, or an embeddings model this gateway
    # routes (``embedding_model``, a model alias of type embedding).
    embedder: Literal["local", "route"] = "local"
    embedding_model: str | None = None
    embedding_timeout_seconds: float = Field(2.0, gt=0, le=60)
    # Longer questions bypass the cache with a routed embedder (the local one counts tokens).
    embedding_max_chars: int = Field(8000, ge=1, le=1_000_000)
    max_entries: int = Field(10_000, ge=1, le=10_000_000)
    # Larger answers are not stored (a replay must stay cheap, and Redis values small).
    max_entry_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    # How often expired entries and vectors are purged (lookups skip them in between).
    purge_interval_seconds: float = Field(60.0, gt=0, le=86400)

    @model_validator(mode="after")
    def _check_embedder(self) -> CacheConfig:
        if self.embedder == "route" and not self.embedding_model:
            raise ValueError("embedding_model: required with embedder: route")
        return self
