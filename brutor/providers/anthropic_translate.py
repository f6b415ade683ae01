"""OpenAI chat request → Anthropic Messages request, and Anthropic answers and errors → OpenAI's shapes.

Request mapping:

* ``system`` and ``developer`` messages (wherever they appear) → the top-level ``system`` (a string for
  one text, else a list of text blocks);
* ``user`` content: text parts → text blocks, ``image_url`` → image blocks (``data:`` URLs → base64
  source, http(s) URLs → url source);
* ``assistant``: text (and ``refusal``) → text blocks, ``tool_calls`` → ``tool_use`` blocks (arguments
  decoded into ``input``);
* ``tool`` messages → ``tool_result`` blocks in a user message; consecutive messages of the same role are
  merged into one (Anthropic wants user and assistant turns to alternate), tool results first;
* ``max_completion_tokens``/``max_tokens`` → ``max_tokens`` (required by Anthropic:
  ``DEFAULT_MAX_TOKENS`` when the client sets none); ``stop`` → ``stop_sequences``; ``temperature``,
  ``top_p`` (and Anthropic's own ``top_k``) as given — newer Claude models refuse ``temperature`` (and
  the anthropic SDK 2.x no longer lists these): drop them for such deployments with a route transform
  (``transforms.drop``); ``user`` → ``metadata.user_id``;
* ``tools`` → name/description/input_schema; ``tool_choice`` auto/none/required/function →
  auto/none/any/tool; ``parallel_tool_calls: false`` → ``disable_parallel_tool_use``.

See ``brutor.providers.translated`` for the parameters refused or dropped.
"""

from __future__ import annotations

from typing import Any

from brutor.context import RequestContext
from brutor.errors import bad_request
from brutor.providers import translated as tr

# Anthropic requires max_tokens; OpenAI clients often send none. 4096 is within every current Claude
# model's output limit and long enough for ordinary answers (clients wanting more say so).
DEFAULT_MAX_TOKENS = 4096

_ERROR_TYPES = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit_error": "rate_limit_error",
    "api_error": "api_error",
    "overloaded_error": "api_error",
}
# The HTTP status Anthropic uses for an error type (for errors reported inside a stream).
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def to_anthropic(payload: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
    tr.check_supported(payload, "Anthropic")
    system, messages = _messages(payload.get("messages") or [])
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": tr.max_output_tokens(payload) or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if system:
        body["system"] = system[0] if len(system) == 1 else [{"type": "text", "text": t} for t in system]
    stop = tr.stop_sequences(payload)
    if stop:
        body["stop_sequences"] = stop
    for name in ("temperature", "top_p", "top_k"):
        value = tr.number(payload, name)
        if value is not None:
            body[name] = value
    user = payload.get("user")
    if isinstance(user, str) and user:
        body["metadata"] = {"user_id": user}
    _tools(payload, body)
    if stream:
        body["stream"] = True
    return body


def _messages(messages: list[Any]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(tr.text_parts(m.get("content"), where))
            continue
        if role == "user":
            blocks = _user_blocks(m.get("content"), where)
        elif role == "assistant":
            blocks = _assistant_blocks(m, where)
        elif role == "tool":
            role, blocks = "user", [_tool_result(m, where)]
        else:
            raise bad_request(f"'{where}.role' {role!r} is not supported.", param=where)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if not out:
        raise bad_request("'messages' must contain a user or assistant message.", param="messages")
    for message in out:
        blocks = message["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            message["content"] = blocks[0]["text"]
    return system, out


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [_text(t) for t in tr.text_parts(content, where)]
    blocks = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            blocks.append(_image(tr.image_url(part, here), here))
        elif kind == "text":
            blocks.extend(_text(t) for t in tr.text_parts([part], where))
        else:
            raise bad_request(f"'{here}': parts of type {kind!r} are not supported by Anthropic.", param=here)
    return blocks


def _image(url: str, where: str) -> dict[str, Any]:
    if url.startswith("data:"):
        media, data = tr.data_url(url, where)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise bad_request(f"'{where}' must be an http(s) or data: URL.", param=where)


def _assistant_blocks(m: dict[str, Any], where: str) -> list[dict[str, Any]]:
    blocks = [_text(t) for t in tr.text_parts(m.get("content"), where, allow=("text", "refusal"))]
    calls = m.get("tool_calls") or []
    if not isinstance(calls, list):
        raise bad_request(f"'{where}.tool_calls' must be an array.", param=where)
    for k, call in enumerate(calls):
        call_id, name, args = tr.tool_arguments(call, f"{where}.tool_calls[{k}]")
        blocks.append({"type": "tool_use", "id": call_id, "name": name, "input": args})
    return blocks


def _tool_result(m: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = m.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"'{where}.tool_call_id' must be a string.", param=where)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = m.get("content")
    texts = tr.text_parts(content, where)
    if isinstance(content, str):
        if texts:
            block["content"] = content
    elif texts:
        block["content"] = [_text(t) for t in texts]
    return block


def _tools(payload: dict[str, Any], body: dict[str, Any]) -> None:
    tools = tr.function_tools(payload)
    if not tools:
        return
    specs = []
    for name, description, params in tools:
        spec: dict[str, Any] = {"name": name}
        if description:
            spec["description"] = description
        spec["input_schema"] = params
        specs.append(spec)
    body["tools"] = specs
    choice = tr.tool_choice(payload)
    mapped: dict[str, Any] | None
    if choice is None:
        mapped = None
    elif isinstance(choice, tuple):
        mapped = {"type": "tool", "name": choice[1]}
    else:
        mapped = {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}
    if payload.get("parallel_tool_calls") is False and (mapped is None or mapped["type"] != "none"):
        mapped = {**(mapped or {"type": "auto"}), "disable_parallel_tool_use": True}
    if mapped is not None:
        body["tool_choice"] = mapped


def from_anthropic(
    doc: dict[str, Any], ctx: RequestContext, *, fallback_id: str, created: int, model: str
) -> dict[str, Any]:
    """An Anthropic ``message`` as an OpenAI ``chat.completion`` (usage recorded on ``ctx``)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    content = doc.get("content")
    for block in content if isinstance(content, list) else ():
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(
                tr.tool_call(str(block.get("id", "")), str(block.get("name", "")), block.get("input", {}))
            )
    usage = doc.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    cached = tr.count(usage.get("cache_read_input_tokens"))
    prompt = tr.count(usage.get("input_tokens")) + cached + tr.count(usage.get("cache_creation_input_tokens"))
    doc_id = doc.get("id")
    return tr.chat_completion(
        id=doc_id if isinstance(doc_id, str) and doc_id else fallback_id,
        created=created,
        model=model,
        texts=texts,
        tool_calls=calls,
        finish=tr.finish_reason(doc.get("stop_reason")),
        usage=tr.usage_block(ctx, prompt, tr.count(usage.get("output_tokens")), cached),
    )


def error_fields(doc: Any, status: int) -> tuple[str, str, str] | None:
    """``(code, OpenAI type, message)`` of an Anthropic error body, or None if it is not one."""
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return None
    kind = error.get("type")
    code = kind if isinstance(kind, str) and kind else f"upstream_{status}"
    message = error.get("message")
    text = message if isinstance(message, str) and message else f"Anthropic answered {status} ({code})."
    return code, _ERROR_TYPES.get(code, tr.openai_error_type(status)), text
