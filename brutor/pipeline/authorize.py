"""Authorize: may this principal use the requested resource?

In this issue: a per-key allow-list of resource names with ``*`` wildcards (``openai/*``). The resource is
target-neutral (model, ``server/tool``, ``skill@version`` or agent), so this stage serves every target.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from brutor.config import JwtIssuerConfig, KeyConfig
from brutor.context import Principal, RequestContext
from brutor.errors import forbidden, internal_error
from brutor.pipeline.reply import Reply

Matcher = Callable[[str], bool]


def compile_allow_list(patterns: Iterable[str]) -> Matcher:
    """One compiled test for a list of names and ``*`` patterns (``[`` and ``?`` are literal)."""
    exact: set[str] = set()
    wild: list[str] = []
    for p in patterns:
        if p == "*":
            return lambda _name: True
        if "*" in p:
            wild.append(re.escape(p).replace(r"\*", ".*"))
        else:
            exact.add(p)
    if not wild:
        return exact.__contains__
    rx = re.compile("|".join(f"(?:{w})" for w in wild), re.DOTALL)

    def allowed(name: str) -> bool:
        return name in exact or rx.fullmatch(name) is not None

    return allowed


class AllowListAuthorizer:
    name = "authorize"

    def __init__(self, keys: Iterable[KeyConfig], issuers: Iterable[JwtIssuerConfig] = ()) -> None:
        self._matchers = {k.id: compile_allow_list(k.models) for k in keys}
        # JWT principals carry key_id "jwt:<issuer name>" (see brutor.identity.jwt_auth).
        self._matchers.update({f"jwt:{i.name}": compile_allow_list(i.models) for i in issuers})

    def permits(self, principal: Principal, resource: str) -> bool:
        matcher = self._matchers.get(principal.key_id)
        return matcher is not None and matcher(resource)

    async def __call__(self, ctx: RequestContext) -> Reply | None:
        principal, call = ctx.principal, ctx.call
        if principal is None or call is None:
            # The pipeline order guarantees both; failing closed if it is ever broken.
            raise internal_error()
        if not self.permits(principal, call.resource):
            raise forbidden(f"This API key is not allowed to use '{call.resource}'.")
        return None
