"""Failures of the config store, mapped to HTTP statuses by the admin API."""

from __future__ import annotations


class StoreError(RuntimeError):
    """The store cannot be used (unreachable, schema mismatch). Messages never carry the URL's password."""


class StoreConflict(StoreError):
    """The change contradicts what is stored (a duplicate id, a tenant that still has keys)."""


class StoreNotFound(StoreError):
    """No such row."""
