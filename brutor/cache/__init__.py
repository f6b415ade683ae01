"""The semantic cache's library pieces: keys, entry stores and vector indexes.

The pipeline stage that uses them lives in ``brutor.pipeline``; everything here takes its dependencies
(Redis client, Qdrant client, clock) as arguments and holds no module-level state.
"""

from brutor.cache.entries import Entries, Entry, MemoryEntries
from brutor.cache.errors import CacheUnavailable
from brutor.cache.index import MemoryIndex, VectorIndex
from brutor.cache.keys import bypass_reason, exact_key, last_user_text, semantic_scope
from brutor.cache.redis_entries import RedisEntries

__all__ = [
    "CacheUnavailable",
    "Entries",
    "Entry",
    "MemoryEntries",
    "MemoryIndex",
    "RedisEntries",
    "VectorIndex",
    "bypass_reason",
    "exact_key",
    "last_user_text",
    "semantic_scope",
]
