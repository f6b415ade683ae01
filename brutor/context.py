"""The per-request context shared by every pipeline stage, for every route target.

Shared stages (identify, authorize, cache, return path) read only the target-neutral fields here: the
principal, the tenant and ``Call.resource``. What a target's body means (an OpenAI chat body, a JSON-RPC
``tools/call``, an A2A message) lives in ``Call.payload`` and is read only by that target's route and call
stages.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any


class Target(enum.Enum):
    """What a request is routed to. Only route + call differ between targets."""

    LLM = "llm"
    MCP = "mcp"
    SKILL = "skill"
    A2A = "a2a"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved once by identify, read by every later stage and the audit record."""

    key_id: str
    tenant: str
    subject: str | None = None
    groups: tuple[str, ...] = ()
    # Every tenant this principal may act for; ``X-Tenant-ID`` selects one of them (default: ``tenant``).
    tenants: tuple[str, ...] = ()
    email: str | None = None


@dataclass(slots=True)
class Call:
    """What was asked, decoded by the endpoint of one target.

    ``resource`` is the name policy applies to: a model or alias (LLM), ``server/tool`` (MCP),
    ``skill@version`` (skill) or an agent name (A2A).
    """

    target: Target
    operation: str
    resource: str
    stream: bool = False
    payload: Any = None
    # Token estimates for rate limits, made by the target's decoder (it alone knows the body's shape).
    prompt_estimate: int = 0
    max_output: int | None = None


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    # True when completion tokens were estimated by the gateway (upstream sent no usage).
    estimated: bool = False


class RequestContext:
    """Mutable state of one request as it moves through the stages and the return path."""

    __slots__ = (
        "cache_saved",
        "cache_status",
        "call",
        "client_addr",
        "client_request_id",
        "deployment",
        "error_code",
        "guardrails",
        "headers",
        "on_complete",
        "output_guard",
        "principal",
        "request_id",
        "reservation",
        "response_headers",
        "stage_ms",
        "started",
        "started_wall",
        "status",
        "trace",
        "ttft_ms",
        "upstream_headers",
        "usage",
    )

    def __init__(
        self, request_id: str, headers: Any, client_addr: str = "", client_request_id: str | None = None
    ) -> None:
        # The gateway's unique id (the audit key); the client's X-Request-ID is kept beside it.
        self.request_id = request_id
        self.client_request_id = client_request_id
        # The inbound headers (a read-only mapping with case-insensitive ``get``).
        self.headers = headers
        self.client_addr = client_addr
        self.started = time.perf_counter()
        self.started_wall = time.time()
        # Trace ids when this request is traced (brutor.observability.tracing), else None.
        self.trace: Any = None
        # Guardrail decisions for the audit record: [{"stage", "action", "types": {type: count}}].
        self.guardrails: list[dict[str, Any]] | None = None
        # Extra headers for the upstream request (route transforms), set per attempt by the call stage.
        self.upstream_headers: dict[str, str] | None = None
        # The cache's pending store of a miss (brutor.cache.stage.PendingStore): the server hands it a
        # complete, successful answer (``answer(body, usage)``, or ``stream(chunks, usage)``).
        self.on_complete: Any = None
        # The response policy for this request's answer (brutor.guardrails.response), when one applies.
        self.output_guard: Any = None
        self.principal: Principal | None = None
        self.call: Call | None = None
        self.deployment: str | None = None
        self.cache_status = "off"
        # (prompt, completion) tokens of the cached answer a hit served instead of calling the provider.
        self.cache_saved: tuple[int, int] | None = None
        self.status = 0
        self.error_code: str | None = None
        self.usage = Usage()
        self.ttft_ms: float | None = None
        self.stage_ms: dict[str, float] = {}
        # Held rate-limit reservation as (Limits, Reservation), settled by the return path; reply headers.
        self.reservation: Any = None
        self.response_headers: tuple[tuple[str, str], ...] = ()

    @property
    def tenant(self) -> str | None:
        return self.principal.tenant if self.principal is not None else None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()
