"""Where the texts a model sees live in an OpenAI-shaped body, as (container, key) slots that can be read
and replaced in place: every message role, text parts of multimodal content, tool results and the
arguments of earlier tool calls; embedding inputs. Token-id inputs and non-text parts are not text."""

from __future__ import annotations

from typing import Any

Slot = tuple[Any, Any]  # (dict or list, key or index): slot[0][slot[1]] is a str


def _content_slots(holder: dict[str, Any], out: list[Slot]) -> None:
    content = holder.get("content")
    if isinstance(content, str):
        out.append((holder, "content"))
    elif isinstance(content, list):
        out.extend((part, "text") for part in content if _is_text_part(part))


def _is_text_part(part: Any) -> bool:
    return (
        isinstance(part, dict)
        and part.get("type") in ("text", "input_text")
        and isinstance(part.get("text"), str)
    )


def chat_slots(payload: Any) -> list[Slot]:
    out: list[Slot] = []
    messages = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(messages, list):
        return out
    for message in messages:
        if not isinstance(message, dict):
            continue
        _content_slots(message, out)
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    out.append((fn, "arguments"))
    return out


def embedding_slots(payload: Any) -> list[Slot]:
    value = payload.get("input") if isinstance(payload, dict) else None
    if isinstance(value, str):
        return [(payload, "input")]
    if isinstance(value, list):
        return [(value, i) for i, item in enumerate(value) if isinstance(item, str)]
    return []


def request_slots(operation: str, payload: Any) -> list[Slot]:
    if operation == "chat.completions":
        return chat_slots(payload)
    if operation == "embeddings":
        return embedding_slots(payload)
    return []


def answer_slots(doc: Any) -> list[Slot]:
    """Model output in a non-stream chat completion: content, refusal and tool-call arguments."""
    out: list[Slot] = []
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list):
        return out
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        _content_slots(message, out)
        if isinstance(message.get("refusal"), str):
            out.append((message, "refusal"))
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                    out.append((fn, "arguments"))
    return out
