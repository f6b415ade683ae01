"""What providers with their own wire format (Anthropic, Bedrock) share: reading the OpenAI request,
the policy for OpenAI parameters they cannot honour, OpenAI-shaped answers and errors, and the loop that
relays a stream through a native translator (one Rust call per network chunk).

Unsupported parameters: those that change what the client gets back (``n`` > 1, ``logprobs``,
``top_logprobs``, ``response_format`` other than text, audio output, web search, the legacy
``functions``) are refused with a 400 naming the parameter, since silently ignoring them would hand back
an answer of another shape. Sampling and bookkeeping hints without an equivalent (``frequency_penalty``,
``presence_penalty``, ``seed``, ``logit_bias``, ``store``, ``metadata``, ``service_tier``,
``prediction``, ``reasoning_effort``, ``verbosity``) and unknown fields are dropped: the answer keeps its
shape and clients sending them to every provider keep working.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

import orjson
from pyreqwest.exceptions import RequestError
from pyreqwest.response import Response

from brutor._native import AnthropicStreamTranslator, BedrockStreamTranslator, TranslateError
from brutor.context import RequestContext
from brutor.errors import (
    GatewayError,
    bad_request,
    upstream_bad_response,
    upstream_interrupted,
)
from brutor.http.upstream import first_byte, map_transport_error
from brutor.pipeline.reply import Headers, Reply, StreamReply
from brutor.providers.accounting import account_stream
from brutor.providers.base import Deployment

Translator = AnthropicStreamTranslator | BedrockStreamTranslator

JSON_HEADERS: Headers = [("content-type", "application/json")]
SSE_HEADERS: Headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
# Upstream response headers worth passing on with an error (the router reads retry-after).
PASS_HEADERS = ("retry-after", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests")
ERROR_DETAIL_MAX = 200
# Reads allowed after the last event to reach the end of the body (so the connection is reused).
DRAIN_READS = 4


# ---------------------------------------------------------------------------------- the OpenAI request


def check_supported(payload: dict[str, Any], provider: str) -> None:
    """Refuse the OpenAI parameters whose answer this provider cannot give (see the module docstring)."""

    def refuse(param: str, what: str) -> GatewayError:
        return bad_request(f"{what} is not supported by {provider} deployments.", param=param)

    n = payload.get("n")
    if n is not None and n != 1:
        raise refuse("n", "'n' other than 1")
    if payload.get("logprobs") is True:
        raise refuse("logprobs", "'logprobs'")
    if payload.get("top_logprobs") is not None:
        raise refuse("top_logprobs", "'top_logprobs'")
    fmt = payload.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") == "text"):
        raise refuse("response_format", "'response_format' other than text")
    modalities = payload.get("modalities")
    if payload.get("audio") is not None or (isinstance(modalities, list) and "audio" in modalities):
        raise refuse("modalities", "Audio output")
    if payload.get("web_search_options") is not None:
        raise refuse("web_search_options", "'web_search_options'")
    for legacy in ("functions", "function_call"):
        if payload.get(legacy) is not None:
            raise refuse(legacy, f"The legacy '{legacy}' parameter (use 'tools')")


def max_output_tokens(payload: dict[str, Any]) -> int | None:
    """``max_completion_tokens``, else ``max_tokens`` (both validated as positive integers upstream of us)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def stop_sequences(payload: dict[str, Any]) -> list[str] | None:
    stop = payload.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise bad_request("'stop' must be a string or an array of strings.", param="stop")


def number(payload: dict[str, Any], name: str) -> float | int | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_request(f"'{name}' must be a number.", param=name)
    return value


def text_parts(content: Any, where: str, *, allow: Iterable[str] = ("text",)) -> list[str]:
    """The texts of a message's content: a string, or a list of parts of the ``allow``-ed types (text, and
    for assistants ``refusal``). Empty texts are left out (the upstreams refuse empty text blocks)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if not isinstance(content, list):
        raise bad_request(f"'{where}.content' must be a string or an array of parts.", param=where)
    allowed = tuple(allow)
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            raise bad_request(
                f"'{where}.content[{j}]' must be a part of type {' or '.join(allowed)} here.",
                param=f"{where}.content[{j}]",
            )
        text = part.get(kind)
        if not isinstance(text, str):
            raise bad_request(
                f"'{where}.content[{j}].{kind}' must be a string.", param=f"{where}.content[{j}]"
            )
        if text:
            texts.append(text)
    return texts


def data_url(url: str, where: str) -> tuple[str, str]:
    """``(media_type, base64 data)`` of a ``data:<type>;base64,<data>`` URL."""
    head, sep, data = url.partition(",")
    media, _, encoding = head[5:].partition(";")
    if not sep or encoding != "base64" or not media or not data:
        raise bad_request(f"'{where}' must be a base64 data: URL (data:image/png;base64,...).", param=where)
    return media, data


def image_url(part: dict[str, Any], where: str) -> str:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise bad_request(f"'{where}.image_url.url' must be a string.", param=where)
    return url


def tool_arguments(call: Any, where: str) -> tuple[str, str, dict[str, Any]]:
    """``(id, name, arguments)`` of an assistant message's tool call (arguments decoded: both upstreams take
    an object; an empty string means no arguments)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or call.get("type", "function") != "function":
        raise bad_request(f"'{where}' must be a function tool call.", param=where)
    call_id, name, raw = call.get("id"), function.get("name"), function.get("arguments", "")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise bad_request(f"'{where}' needs a string 'id' and 'function.name'.", param=where)
    if raw in ("", None):
        return call_id, name, {}
    try:
        args = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise bad_request(f"'{where}.function.arguments' must be a JSON object.", param=where)
    return call_id, name, args


def function_tools(payload: dict[str, Any]) -> list[tuple[str, str | None, dict[str, Any]]]:
    """``(name, description, parameters)`` of each function tool (parameters default to an empty object)."""
    tools = payload.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise bad_request("'tools' must be an array.", param="tools")
    out = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            raise bad_request(f"'tools[{i}]' must be a function tool.", param=f"tools[{i}]")
        name, description = function.get("name"), function.get("description")
        if not isinstance(name, str) or not name:
            raise bad_request(f"'tools[{i}].function.name' must be a string.", param=f"tools[{i}]")
        params = function.get("parameters")
        if params is None:
            params = {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise bad_request(f"'tools[{i}].function.parameters' must be an object.", param=f"tools[{i}]")
        out.append((name, description if isinstance(description, str) else None, params))
    return out


def tool_choice(payload: dict[str, Any]) -> str | tuple[str, str] | None:
    """``"auto"``, ``"none"``, ``"required"``, ``("function", name)`` or None when not given."""
    choice = payload.get("tool_choice")
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if isinstance(name, str) and name:
            return ("function", name)
    raise bad_request(
        "'tool_choice' must be 'auto', 'none', 'required' or a function choice.", param="tool_choice"
    )


def wants_usage(payload: dict[str, Any]) -> bool:
    options = payload.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


# --------------------------------------------------------------------------------- the OpenAI answer

# Must agree with native/src/translate/chunks.rs (tests/providers check both with every reason).
_FINISH = {
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason(stop_reason: Any) -> str:
    """OpenAI's ``finish_reason`` for an Anthropic or Bedrock stop reason (end_turn, stop_sequence and
    anything unknown are ``stop``)."""
    return _FINISH.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_block(ctx: RequestContext, prompt: int, completion: int, cached: int) -> dict[str, Any]:
    """Records the usage on the request and returns it in OpenAI's shape (``prompt_tokens`` counts the
    cached input too, as OpenAI's does)."""
    ctx.usage.prompt_tokens = prompt
    ctx.usage.completion_tokens = completion
    ctx.usage.cached_tokens = cached
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def chat_completion(
    *,
    id: str,
    created: int,
    model: str,
    texts: list[str],
    tool_calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, Any],
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
    }


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


def openai_error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500 or status in (408, 424):
        return "api_error"
    return "invalid_request_error"


def error_reply(
    ctx: RequestContext, response: Response, status: int, code: str, type: str, message: str
) -> Reply:
    """An upstream failure in OpenAI's shape, keeping the upstream status (429/5xx stay retryable for the
    router) and its retry advice."""
    headers: Headers = list(JSON_HEADERS)
    for name in PASS_HEADERS:
        value = response.headers.get(name)
        if value is not None:
            headers.append((name, value))
    ctx.error_code = code
    if status < 400:
        status = 502  # a redirect or other non-200 success is nothing a client of an LLM API can use
    return Reply(status, headers, GatewayError(status, message, type=type, code=code).body())


def non_json_error(ctx: RequestContext, deployment: Deployment, response: Response, raw: bytes) -> Reply:
    status = response.status
    text = raw[:ERROR_DETAIL_MAX].decode("utf-8", "replace")
    message = f"Upstream for deployment '{deployment.name}' answered {status}: {text}"
    return error_reply(ctx, response, status, f"upstream_{status}", openai_error_type(status), message)


def json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


# ------------------------------------------------------------------------------------- streaming

EarlyError = Callable[[RequestContext, Response, Translator], Reply]
StatusError = Callable[[RequestContext, Response, bytes], Reply]


def _answering(t: Translator) -> bool:
    """Something the client must see arrived (content, a tool call, the end) or the upstream failed."""
    return bool(t.content_chars or t.tool_calls or t.stopped or t.error_type is not None)


async def send_unary(
    ctx: RequestContext,
    deployment: Deployment,
    builder: Any,
    deadline: Any,
    status_error: StatusError,
    convert: Callable[[dict[str, Any]], dict[str, Any]],
) -> Reply:
    """A non-stream call: send, map transport errors and upstream error statuses, translate the answer."""
    request = builder.timeout(deadline).build()
    try:
        response = await request.send()
        raw = (await response.bytes()).to_bytes()
    except (RequestError, TimeoutError) as exc:
        raise map_transport_error(exc, deployment.name) from None
    ctx.mark_first_token()
    if response.status != 200:
        return status_error(ctx, response, raw)
    doc = json_or_none(raw)
    if not isinstance(doc, dict):
        raise upstream_bad_response(deployment.name, "the response body is not a JSON object")
    return Reply(200, list(JSON_HEADERS), orjson.dumps(convert(doc)))


async def open_stream(
    ctx: RequestContext,
    deployment: Deployment,
    streamed: Any,
    translator: Translator,
    *,
    first_byte_s: float | None,
    status_error: StatusError,
    early_error: EarlyError,
) -> Reply | StreamReply:
    """Sends a streamed request and reads until the answer begins; only then is a StreamReply returned.

    Until that point nothing has reached the client, so an error status, an upstream error reported
    before any content (Anthropic's ``overloaded_error``, Bedrock's ``throttlingException``) or a timeout
    is answered as a plain error reply with the upstream's status, which the router may retry elsewhere.
    """
    entered = False
    head: list[bytes] = []
    try:
        # The deadline covers the start of the answer too (see OpenAIProvider._stream).
        async with first_byte(first_byte_s):
            response = await streamed.__aenter__()
            entered = True
            if response.status != 200:
                raw = (await response.bytes()).to_bytes()
                await streamed.__aexit__(None, None, None)
                return status_error(ctx, response, raw)
            reader = response.body_reader
            eof = False
            while not _answering(translator):
                chunk = await reader.read_chunk()
                if chunk is None:
                    eof = True
                    head.append(translator.finish())
                    break
                head.append(translator.feed(chunk))
    except (RequestError, TimeoutError) as exc:
        if entered:
            await streamed.__aexit__(None, None, None)
        raise map_transport_error(exc, deployment.name) from None
    except TranslateError:
        await streamed.__aexit__(None, None, None)
        raise upstream_bad_response(deployment.name, "the upstream sent a malformed stream") from None
    except BaseException:  # cancelled (the client left) or a bug: the response is still closed
        if entered:
            await streamed.__aexit__(None, None, None)
        raise
    if translator.error_type is not None:
        await streamed.__aexit__(None, None, None)
        return early_error(ctx, response, translator)
    if eof and not translator.stopped:
        await streamed.__aexit__(None, None, None)
        raise upstream_bad_response(deployment.name, "the upstream ended the stream before answering")
    return TranslatedStream(ctx, deployment, response, streamed, translator).start(b"".join(head), eof)


class TranslatedStream:
    """One upstream stream being translated; always closed exactly once, even if never iterated."""

    __slots__ = ("_ctx", "_deployment", "_exited", "_gen", "_reply", "_response", "_streamed", "translator")

    def __init__(
        self,
        ctx: RequestContext,
        deployment: Deployment,
        response: Response,
        streamed: Any,
        translator: Translator,
    ) -> None:
        self._ctx = ctx
        self._deployment = deployment
        self._response = response
        self._streamed = streamed
        self._exited = False
        self.translator = translator

    def start(self, out: bytes, eof: bool) -> StreamReply:
        self._gen = self._chunks(out, eof)
        self._reply = StreamReply(200, list(SSE_HEADERS), self._gen, self.aclose)
        return self._reply

    async def aclose(self) -> None:
        await self._gen.aclose()
        await self._close_upstream()

    async def _close_upstream(self, drain: bool = False) -> None:
        if self._exited:
            return
        self._exited = True
        if drain:
            reader = self._response.body_reader
            with contextlib.suppress(RequestError, TimeoutError):
                for _ in range(DRAIN_READS):
                    if await reader.read_chunk() is None:
                        break
        await self._streamed.__aexit__(None, None, None)

    async def _chunks(self, out: bytes, eof: bool) -> AsyncGenerator[bytes, None]:
        t, reply, ctx, name = self.translator, self._reply, self._ctx, self._deployment.name
        reader = self._response.body_reader
        try:
            while not (t.done or eof or t.error_type is not None):
                if out:
                    ctx.mark_first_token()
                    yield out
                chunk: Any = await reader.read_chunk()
                if chunk is None:
                    eof = True
                    out = t.finish()
                else:
                    out = t.feed(chunk)
            if t.error_type is None and t.stopped:
                # The answer is complete (a missing trailing event after the stop reason is tolerated).
                account_stream(ctx, t)
                reply.complete = True
                ctx.mark_first_token()
                yield out
                return
            if out:
                yield out
            if t.error_type is not None:
                detail = f"the upstream reported {t.error_type}"
                if t.error_message:
                    detail += f": {t.error_message[:ERROR_DETAIL_MAX]}"
                reply.error = upstream_interrupted(name, detail.rstrip("."))
            else:
                reply.error = upstream_interrupted(name, "the upstream closed the stream before the end")
        except (RequestError, TimeoutError) as exc:
            error = map_transport_error(exc, name)
            if error.code != "upstream_timeout":
                error = upstream_interrupted(name, "the upstream connection failed mid-stream")
            reply.error = error
        except TranslateError:
            reply.error = upstream_interrupted(name, "the upstream sent a malformed event")
        finally:
            account_stream(ctx, t)
            await self._close_upstream(drain=t.done and not eof)


def traced(builder: Any, ctx: RequestContext) -> Any:
    """W3C trace context for the upstream: its spans become children of this request's call span."""
    trace = ctx.trace
    if trace is None:
        return builder
    # As Tracing.upstream_traceparent, without importing the tracing stack on the request path.
    return builder.header("traceparent", f"00-{trace.trace_id:032x}-{trace.call_span_id:016x}-01")
