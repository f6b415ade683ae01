"""OpenAI chat request -> Vertex AI ``GenerateContentRequest`` (Gemini).

Mapping decisions:
- ``system``/``developer`` messages become ``systemInstruction`` (text parts, in order); ``assistant`` is
  role ``model``; ``tool`` results become ``functionResponse`` parts of a ``user`` turn, named after the
  assistant tool call they answer. Consecutive turns of one role are merged (Gemini wants one turn per
  side, and one turn holding every response to a parallel call).
- Images: ``data:`` URLs become ``inlineData``; ``gs://`` and ``http(s)`` URLs become ``fileData``.
- Tools are sent as ``parametersJsonSchema`` (plain JSON Schema, as OpenAI clients write it), not the
  OpenAPI subset of ``parameters``, which rejects common keywords such as ``additionalProperties``.
- A tool call's Gemini ``thoughtSignature`` travels to the client in ``extra_content.google`` (the
  convention of Google's own OpenAI endpoint) and is put back on the ``functionCall`` part here.
- Parameters Gemini has no equivalent for and that only shape the answer's metadata (``user``,
  ``store``, ``metadata``, ``parallel_tool_calls``...) are dropped; ``logprobs`` is refused rather than
  silently answered without.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from brutor.errors import GatewayError, bad_request

_ROLES = {"user": "user", "assistant": "model"}
_GENERATION_FIELDS = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("n", "candidateCount"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
    ("seed", "seed"),
)
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def _unsupported(param: str, why: str) -> GatewayError:
    return bad_request(f"'{param}' is not supported by Vertex AI deployments: {why}.", param=param)


def build_request(payload: dict[str, Any]) -> dict[str, Any]:
    """The Vertex body for an OpenAI chat body (already checked: ``messages`` is a list of role dicts)."""
    if payload.get("logprobs") or payload.get("top_logprobs") is not None:
        raise _unsupported("logprobs", "Gemini log-probabilities are not translated")
    system, contents = _contents(payload["messages"])
    if not contents:
        raise bad_request("At least one user or assistant message is required.", param="messages")
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = payload.get("tools")
    if tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in tools]}]
    # Without tools there is nothing to configure (OpenAI itself refuses tool_choice alone).
    tool_config = _tool_config(payload.get("tool_choice")) if tools else None
    if tool_config is not None:
        body["toolConfig"] = tool_config
    generation = _generation_config(payload)
    if generation:
        body["generationConfig"] = generation
    return body


# ------------------------------------------------------------------------------------------ messages


def _contents(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool_call_id -> function name, from the assistant turns so far
    for i, message in enumerate(messages):
        role = message["role"]
        if role in ("system", "developer"):
            system.extend({"text": t} for t in _texts(message.get("content"), i))
            continue
        if role == "user":
            parts = _user_parts(message.get("content"), i)
        elif role == "assistant":
            parts = _assistant_parts(message, i, call_names)
        elif role in ("tool", "function"):
            parts = [_function_response(message, i, call_names)]
            role = "user"
        else:
            raise bad_request(f"Unknown role '{role[:32]}' in messages[{i}].", param=f"messages[{i}]")
        if not parts:
            continue  # e.g. an assistant turn with empty content: Gemini refuses empty turns
        gemini_role = _ROLES[role]
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    return system, contents


def _texts(content: Any, i: int) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content else []
    if isinstance(content, list):
        out = []
        for part in content:
            if not (
                isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
            ):
                raise bad_request(f"messages[{i}] may only hold text parts here.", param=f"messages[{i}]")
            out.append(part["text"])
        return out
    raise bad_request(f"messages[{i}].content must be a string or an array.", param=f"messages[{i}]")


def _user_parts(content: Any, i: int) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [{"text": t} for t in _texts(content, i)]
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media(url, i))
        elif kind == "input_audio" and isinstance(part.get("input_audio"), dict):
            audio = part["input_audio"]
            parts.append(
                {"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}", "data": audio.get("data")}}
            )
        elif kind == "file" and isinstance(part.get("file"), dict) and part["file"].get("file_data"):
            parts.append(_media(part["file"]["file_data"], i))
        else:
            raise bad_request(f"Unsupported content part in messages[{i}].", param=f"messages[{i}].content")
    return parts


def _media(url: Any, i: int) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise bad_request(f"messages[{i}] has an image without a URL.", param=f"messages[{i}].content")
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        if not sep or encoding != "base64" or not mime:
            raise bad_request(
                f"messages[{i}]: data URLs must be 'data:<mime>;base64,<data>'.",
                param=f"messages[{i}].content",
            )
        return {"inlineData": {"mimeType": mime, "data": data}}
    if url.startswith(("gs://", "https://", "http://")):
        # fileData needs a MIME type; the extension is all a URL tells (Vertex reads the object itself).
        mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    raise bad_request(f"messages[{i}]: unsupported image URL scheme.", param=f"messages[{i}].content")


def _assistant_parts(message: dict[str, Any], i: int, call_names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": t} for t in _texts(message.get("content"), i) if t]
    tool_calls = message.get("tool_calls") or ()
    for call in tool_calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"messages[{i}].tool_calls needs function names.", param=f"messages[{i}]")
        name = function["name"]
        part: dict[str, Any] = {
            "functionCall": {"name": name, "args": _arguments(function.get("arguments"), i)}
        }
        extra = call.get("extra_content")
        google = extra.get("google") if isinstance(extra, dict) else None
        if isinstance(google, dict) and isinstance(google.get("thought_signature"), str):
            part["thoughtSignature"] = google["thought_signature"]
        parts.append(part)
        if isinstance(call.get("id"), str):
            call_names[call["id"]] = name
    return parts


def _arguments(raw: Any, i: int) -> Any:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        args = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        raise bad_request(
            f"messages[{i}]: tool call arguments are not JSON.", param=f"messages[{i}]"
        ) from None
    if not isinstance(args, dict):
        raise bad_request(
            f"messages[{i}]: tool call arguments must be a JSON object.", param=f"messages[{i}]"
        )
    return args


def _function_response(message: dict[str, Any], i: int, call_names: dict[str, str]) -> dict[str, Any]:
    name = (
        message.get("name")
        if message["role"] == "function"
        else call_names.get(message.get("tool_call_id", ""))
    )
    if not isinstance(name, str):
        raise bad_request(
            f"messages[{i}] answers a tool call that no earlier assistant message made.",
            param=f"messages[{i}].tool_call_id",
        )
    text = "".join(_texts(message.get("content"), i))
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    # ``response`` must be a JSON object; Google's convention puts anything else under "output".
    response = value if isinstance(value, dict) else {"output": value}
    return {"functionResponse": {"name": name, "response": response}}


# --------------------------------------------------------------------------------- tools and config


def _declaration(tool: Any) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise bad_request("Only function tools with a name are supported.", param="tools")
    declaration: dict[str, Any] = {"name": function["name"]}
    if isinstance(function.get("description"), str):
        declaration["description"] = function["description"]
    if isinstance(function.get("parameters"), dict):
        declaration["parametersJsonSchema"] = function["parameters"]
    return declaration


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [function["name"]]}}
    raise bad_request("'tool_choice' must be auto, none, required or a named function.", param="tool_choice")


def _generation_config(payload: dict[str, Any]) -> dict[str, Any]:
    config = {
        vertex: payload[openai] for openai, vertex in _GENERATION_FIELDS if payload.get(openai) is not None
    }
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = payload.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = payload.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
        spec = response_format.get("json_schema")
        if kind == "json_schema" and isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
            config["responseJsonSchema"] = spec["schema"]
    return config
