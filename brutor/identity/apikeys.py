"""Gateway-issued API keys: ``sk-brutor-…`` secrets stored only as a keyed hash.

The hash is BLAKE2b keyed with a server-side pepper (``server.key_pepper``), so a leaked config or
database row is useless without the pepper, and verifying a key costs one keyed hash (~0.5 µs).
"""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "sk-brutor-"
HASH_PREFIX = "blake2b:"


def generate_key() -> str:
    """A new key with 240 bits of randomness."""
    return KEY_PREFIX + secrets.token_urlsafe(30)


def mac_key(pepper: str) -> bytes:
    """BLAKE2b takes keys of at most 64 bytes: longer peppers are hashed down first."""
    raw = pepper.encode()
    return raw if len(raw) <= 64 else hashlib.blake2b(raw).digest()


def digest(mac: bytes, credential: str) -> bytes:
    return hashlib.blake2b(credential.encode(), key=mac, digest_size=32).digest()


def key_hash(pepper: str, key: str) -> str:
    """The value to store (``keys[].key_hash``) for ``key``."""
    return HASH_PREFIX + digest(mac_key(pepper), key).hex()
