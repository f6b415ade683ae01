"""The one exception the cache stage catches to fail open."""

from __future__ import annotations

__all__ = ["CacheUnavailable"]


class CacheUnavailable(Exception):
    """A cache store or vector index could not be reached or answered badly.

    The stage treats it as a miss (and skips storing): the cache must never fail a request. The
    original error is the ``__cause__``.
    """
