"""Request ids: a client's ``X-Request-ID`` when it is sane, else a cheap unique id."""

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

    def next(self, offered: str | None) -> str:
        if offered is not None and _SANE.fullmatch(offered):
            return offered
        return f"{self._prefix}{next(self._counter):08x}"
