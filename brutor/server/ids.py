"""Request ids: the gateway's own unique id for every request (the audit key), and the client's
``X-Request-ID`` beside it when it is sane (clients reuse theirs, so it can never be the key)."""

from __future__ import annotations

import itertools
import re
import secrets

_SANE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class RequestIds:
    def __init__(self) -> None:
        # A random per-process prefix keeps ids unique across workers and replicas; a counter is cheaper
        # than a uuid4 per request.
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):08x}"


def client_request_id(offered: str | None) -> str | None:
    return offered if offered is not None and _SANE.fullmatch(offered) else None
