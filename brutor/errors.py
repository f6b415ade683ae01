"""One mapping from internal failures to client-facing error bodies.

Every rejection in the gateway is a ``GatewayError``; the server renders it once, in the wire format of the
route target (OpenAI-shaped JSON today; JSON-RPC for MCP/A2A later). Messages are written for clients and
never carry secrets or tracebacks.
"""

from __future__ import annotations

import orjson


class GatewayError(Exception):
    """A request failure with an HTTP status and an OpenAI-style ``type``/``code``."""

    __slots__ = ("code", "headers", "message", "param", "status", "type")

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers

    def to_dict(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict())


def bad_request(message: str, *, code: str = "invalid_value", param: str | None = None) -> GatewayError:
    return GatewayError(400, message, code=code, param=param)


def unauthorized(message: str = "Missing or invalid API key.") -> GatewayError:
    return GatewayError(401, message, code="invalid_api_key")


def forbidden(message: str, *, code: str = "model_not_allowed") -> GatewayError:
    return GatewayError(403, message, type="permission_error", code=code)


def not_found(message: str, *, code: str = "not_found", param: str | None = None) -> GatewayError:
    return GatewayError(404, message, code=code, param=param)


def _upstream(status: int, code: str, message: str) -> GatewayError:
    return GatewayError(status, message, type="api_error", code=code)


def upstream_unreachable(deployment: str) -> GatewayError:
    return _upstream(502, "upstream_unreachable", f"Upstream for deployment '{deployment}' is unreachable.")


def upstream_bad_response(deployment: str, detail: str) -> GatewayError:
    return _upstream(502, "upstream_error", f"Upstream for deployment '{deployment}' failed: {detail}")


def upstream_timeout(deployment: str, phase: str) -> GatewayError:
    return _upstream(504, "upstream_timeout", f"Upstream for deployment '{deployment}' timed out ({phase}).")


def upstream_interrupted(deployment: str, why: str) -> GatewayError:
    """A stream that broke after it started: reported in-band, never as a clean end."""
    return _upstream(
        502, "upstream_stream_interrupted", f"Stream from deployment '{deployment}' was interrupted: {why}."
    )


def internal_error() -> GatewayError:
    return GatewayError(500, "Internal gateway error.", type="api_error", code="internal_error")
