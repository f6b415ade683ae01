"""Reading text out of OpenAI chat messages (string content or a list of content parts)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"]
            for p in content
            if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        )
    return ""


def message_texts(messages: list[Any]) -> Iterator[str]:
    for m in messages:
        if isinstance(m, dict):
            yield content_text(m.get("content"))


def last_user_text(messages: list[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return content_text(m.get("content"))
    return ""


def count_words(text: str) -> int:
    return len(text.split())
