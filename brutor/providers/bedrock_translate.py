"""OpenAI chat request → Bedrock Converse request, and Converse answers and errors → OpenAI's shapes.

Request mapping (the model id goes in the URL path, not the body):

* ``system``/``developer`` messages → ``system`` text blocks;
* ``user`` text parts → ``text`` blocks, ``image_url`` ``data:`` URLs → ``image`` blocks (png, jpeg,
  gif, webp; Bedrock cannot fetch http URLs, so those are refused with a 400);
* ``assistant`` text → ``text`` blocks, ``tool_calls`` → ``toolUse`` blocks (arguments decoded);
* ``tool`` messages → ``toolResult`` blocks in a user message; consecutive messages of the same role are
  merged (Converse wants the roles to alternate);
* ``max_completion_tokens``/``max_tokens`` → ``inferenceConfig.maxTokens`` (optional for Bedrock: the
  model's default applies), ``temperature``, ``top_p`` → ``topP``, ``stop`` → ``stopSequences``;
* ``tools`` → ``toolConfig.tools[].toolSpec`` (``inputSchema.json``); ``tool_choice`` auto/required/
  function → ``auto``/``any``/``tool``. Converse has no "none": ``tool_choice: "none"`` leaves the tools
  out, unless the conversation already holds tool calls (Converse then requires the tool list), in which
  case the tools are sent with the default choice. ``parallel_tool_calls`` has no equivalent (dropped).

See ``brutor.providers.translated`` for the parameters refused or dropped.
"""

from __future__ import annotations

from typing import Any

from brutor.context import RequestContext
from brutor.errors import bad_request
from brutor.providers import translated as tr

_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
# The HTTP status Bedrock gives each exception (botocore's service model), for exceptions in a stream.
EXCEPTION_STATUS = {
    "internalServerException": 500,
    "modelStreamErrorException": 424,
    "validationException": 400,
    "throttlingException": 429,
    "serviceUnavailableException": 503,
}


def to_converse(payload: dict[str, Any]) -> dict[str, Any]:
    tr.check_supported(payload, "Bedrock")
    system, messages, has_tool_blocks = _messages(payload.get("messages") or [])
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = [{"text": t} for t in system]
    inference: dict[str, Any] = {}
    max_tokens = tr.max_output_tokens(payload)
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    for name, key in (("temperature", "temperature"), ("top_p", "topP")):
        value = tr.number(payload, name)
        if value is not None:
            inference[key] = value
    stop = tr.stop_sequences(payload)
    if stop:
        inference["stopSequences"] = stop
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(payload, has_tool_blocks)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    return body


def _messages(messages: list[Any]) -> tuple[list[str], list[dict[str, Any]], bool]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    has_tool_blocks = False
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(tr.text_parts(m.get("content"), where))
            continue
        if role == "user":
            blocks = _user_blocks(m.get("content"), where)
        elif role == "assistant":
            blocks = [{"text": t} for t in tr.text_parts(m.get("content"), where, allow=("text", "refusal"))]
            calls = m.get("tool_calls") or []
            if not isinstance(calls, list):
                raise bad_request(f"'{where}.tool_calls' must be an array.", param=where)
            for k, call in enumerate(calls):
                call_id, name, args = tr.tool_arguments(call, f"{where}.tool_calls[{k}]")
                blocks.append({"toolUse": {"toolUseId": call_id, "name": name, "input": args}})
        elif role == "tool":
            role, blocks = "user", [_tool_result(m, where)]
        else:
            raise bad_request(f"'{where}.role' {role!r} is not supported.", param=where)
        has_tool_blocks |= any("toolUse" in b or "toolResult" in b for b in blocks)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if not out:
        raise bad_request("'messages' must contain a user or assistant message.", param="messages")
    return system, out, has_tool_blocks


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [{"text": t} for t in tr.text_parts(content, where)]
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        here = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url":
            url = tr.image_url(part, here)
            if not url.startswith("data:"):
                raise bad_request(f"'{here}': Bedrock takes images only as base64 data: URLs.", param=here)
            media, data = tr.data_url(url, here)
            fmt = _IMAGE_FORMATS.get(media.lower())
            if fmt is None:
                raise bad_request(f"'{here}': image type {media!r} is not supported by Bedrock.", param=here)
            # A blob is base64 in Converse's JSON: the client's base64 goes through as is.
            blocks.append({"image": {"format": fmt, "source": {"bytes": data}}})
        elif kind == "text":
            blocks.extend({"text": t} for t in tr.text_parts([part], where))
        else:
            raise bad_request(f"'{here}': parts of type {kind!r} are not supported by Bedrock.", param=here)
    return blocks


def _tool_result(m: dict[str, Any], where: str) -> dict[str, Any]:
    call_id = m.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"'{where}.tool_call_id' must be a string.", param=where)
    texts = tr.text_parts(m.get("content"), where)
    return {"toolResult": {"toolUseId": call_id, "content": [{"text": t} for t in texts]}}


def _tool_config(payload: dict[str, Any], has_tool_blocks: bool) -> dict[str, Any] | None:
    tools = tr.function_tools(payload)
    if not tools:
        return None
    choice = tr.tool_choice(payload)
    if choice == "none" and not has_tool_blocks:
        return None
    specs = []
    for name, description, params in tools:
        spec: dict[str, Any] = {"name": name}
        if description:
            spec["description"] = description
        spec["inputSchema"] = {"json": params}
        specs.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": specs}
    if isinstance(choice, tuple):
        config["toolChoice"] = {"tool": {"name": choice[1]}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif choice == "required":
        config["toolChoice"] = {"any": {}}
    return config


def from_converse(
    doc: dict[str, Any], ctx: RequestContext, *, id: str, created: int, model: str
) -> dict[str, Any]:
    """A Converse answer as an OpenAI ``chat.completion`` (usage recorded on ``ctx``)."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    output = doc.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            calls.append(
                tr.tool_call(str(use.get("toolUseId", "")), str(use.get("name", "")), use.get("input", {}))
            )
    usage = doc.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    cached = tr.count(usage.get("cacheReadInputTokens"))
    prompt = tr.count(usage.get("inputTokens")) + cached + tr.count(usage.get("cacheWriteInputTokens"))
    return tr.chat_completion(
        id=id,
        created=created,
        model=model,
        texts=texts,
        tool_calls=calls,
        finish=tr.finish_reason(doc.get("stopReason")),
        usage=tr.usage_block(ctx, prompt, tr.count(usage.get("outputTokens")), cached),
    )


def error_fields(doc: Any, error_type_header: str | None, status: int) -> tuple[str, str, str]:
    """``(code, OpenAI type, message)`` of a Bedrock error answer: the code is the exception name from
    ``x-amzn-ErrorType`` or the body's ``__type`` (e.g. ``ThrottlingException``)."""
    name = (error_type_header or "").split(":", 1)[0]
    message: Any = None
    if isinstance(doc, dict):
        if not name and isinstance(doc.get("__type"), str):
            name = doc["__type"].rsplit("#", 1)[-1]
        message = doc.get("message", doc.get("Message"))
    code = name or f"upstream_{status}"
    text = message if isinstance(message, str) and message else f"Bedrock answered {status} ({code})."
    return code, tr.openai_error_type(status), text
