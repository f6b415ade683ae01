"""A streamed answer, as the client received it, turned back into the ``chat.completion`` to cache.

Only plain text answers are rebuilt: a stream whose deltas carry anything the replay could not give back
the same way (tool calls, a refusal, log-probabilities, audio), an error event, or a choice without a
finish reason is refused (None) and nothing is stored. The usage block is the gateway's own count for the
request, since the client-facing stream only carries one when the client asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from brutor._native import SseDecoder, SseError, SseEvent
from brutor.context import Usage

__all__ = ["completion_from_stream"]

# Delta fields a cached text answer can be rebuilt from (null values of others are fine too).
_TEXT_FIELDS = frozenset(("role", "content"))


class _Choice:
    __slots__ = ("finish", "parts")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.finish: str | None = None


def completion_from_stream(chunks: Iterable[bytes], usage: Usage, max_bytes: int) -> bytes | None:
    """The ``chat.completion`` JSON of a completed stream of ``chat.completion.chunk`` events, or None
    when the stream cannot be cached faithfully (or its events exceed ``max_bytes``)."""
    events = _events(chunks, max_bytes)
    if events is None:
        return None
    head: dict[str, Any] | None = None
    choices: dict[int, _Choice] = {}
    for event in events:
        if event.event is not None and event.event != "message":
            return None
        data = event.data
        if data == b"[DONE]":
            break
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(doc, dict) or doc.get("error") is not None:
            return None
        if head is None:
            head = doc
        for item in doc.get("choices") or ():
            if not _take(item, choices):
                return None
    if head is None or not choices or any(c.finish is None for c in choices.values()):
        return None
    return _completion(head, choices, usage)


def _events(chunks: Iterable[bytes], max_bytes: int) -> list[SseEvent] | None:
    decoder = SseDecoder(max_event_bytes=max_bytes)
    events: list[SseEvent] = []
    total = 0
    try:
        for chunk in chunks:
            total += len(chunk)
            if total > max_bytes:
                return None
            events.extend(decoder.feed(chunk))
    except SseError:
        return None
    return events


def _take(item: Any, choices: dict[int, _Choice]) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("index", 0), int):
        return False
    if item.get("logprobs") is not None:
        return False
    delta = item.get("delta") or {}
    if not isinstance(delta, dict):
        return False
    if any(value is not None for name, value in delta.items() if name not in _TEXT_FIELDS):
        return False
    choice = choices.setdefault(item.get("index", 0), _Choice())
    content = delta.get("content")
    if content is not None:
        if not isinstance(content, str):
            return False
        choice.parts.append(content)
    finish = item.get("finish_reason")
    if finish is not None:
        if not isinstance(finish, str):
            return False
        choice.finish = finish
    return True


def _completion(head: dict[str, Any], choices: dict[int, _Choice], usage: Usage) -> bytes:
    doc: dict[str, Any] = {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [
            {
                "index": index,
                "message": {"role": "assistant", "content": "".join(c.parts), "refusal": None},
                "logprobs": None,
                "finish_reason": c.finish,
            }
            for index, c in sorted(choices.items())
        ],
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        },
    }
    if head.get("system_fingerprint") is not None:
        doc["system_fingerprint"] = head["system_fingerprint"]
    return orjson.dumps(doc)
