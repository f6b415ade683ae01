"""Vertex AI ``GenerateContentResponse`` -> OpenAI chat completion (whole) and chunks (streamed).

Mapping decisions:
- ``finishReason``: STOP -> ``stop`` (``tool_calls`` when the candidate called a function), MAX_TOKENS ->
  ``length``, every safety-type stop (SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII, MODEL_ARMOR,
  IMAGE_*) -> ``content_filter``; anything else -> ``stop``.
- A prompt blocked before generation (``promptFeedback.blockReason``, no candidates) is an error: 400
  ``content_policy_violation``, as OpenAI answers a refused prompt.
- Usage: ``promptTokenCount`` -> prompt, ``candidatesTokenCount + thoughtsTokenCount`` -> completion
  (thinking is billed as output, as OpenAI counts reasoning tokens), ``cachedContentTokenCount`` -> cached.
- Thought parts are not forwarded; function calls get ids ``call_<responseId>_<n>`` (Gemini sends none).

Streams are translated one network chunk at a time: the native SSE decoder splits the chunk, each event
is parsed once and its chunk serialized once behind a prefix (id, created, model) built on first use.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

import orjson

from brutor._native import SseEvent
from brutor.errors import GatewayError

_FILTERED = frozenset(
    (
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "MODEL_ARMOR",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    )
)


def finish_reason(reason: Any, called_tools: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if called_tools else "stop"


def prompt_block(doc: dict[str, Any]) -> GatewayError | None:
    feedback = doc.get("promptFeedback")
    if not isinstance(feedback, dict) or not feedback.get("blockReason"):
        return None
    reason = str(feedback["blockReason"])
    detail = feedback.get("blockReasonMessage")
    message = f"The prompt was blocked by Vertex AI's content filters ({reason})"
    message += f": {detail}" if isinstance(detail, str) and detail else "."
    return GatewayError(400, message, code="content_policy_violation", param="messages")


def openai_usage(meta: Any) -> dict[str, Any] | None:
    if not isinstance(meta, dict) or ("promptTokenCount" not in meta and "candidatesTokenCount" not in meta):
        return None  # stream events before the last carry only e.g. {"trafficType": ...}
    prompt = int(meta.get("promptTokenCount", 0))
    thoughts = int(meta.get("thoughtsTokenCount", 0))
    completion = int(meta.get("candidatesTokenCount", 0)) + thoughts
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    cached = meta.get("cachedContentTokenCount")
    if cached:
        usage["prompt_tokens_details"] = {"cached_tokens": int(cached)}
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def _created(doc: dict[str, Any]) -> int:
    stamp = doc.get("createTime")
    if isinstance(stamp, str) and len(stamp) >= 19:
        try:
            # Seconds are enough, and Vertex sends up to nine fractional digits (3.11 parses six).
            return int(datetime.fromisoformat(stamp[:19] + "+00:00").timestamp())
        except ValueError:
            pass
    return int(time.time())


class _Ids:
    """Tool-call ids unique within a response (and, via responseId, across responses)."""

    __slots__ = ("_n", "stem")

    def __init__(self, response_id: Any) -> None:
        self.stem = response_id if isinstance(response_id, str) and response_id else secrets.token_hex(8)
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"call_{self.stem}_{self._n}"


def _parts(content: Any, ids: _Ids, tool_base: int) -> tuple[str, list[dict[str, Any]]]:
    """Visible text and OpenAI tool calls of one candidate's content."""
    parts = content.get("parts") if isinstance(content, dict) else None
    if not parts:
        return "", []
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        text = part.get("text")
        if isinstance(text, str):
            if text and not part.get("thought"):
                texts.append(text)
            continue
        call = part.get("functionCall")
        if isinstance(call, dict):
            tool: dict[str, Any] = {
                "index": tool_base + len(calls),
                "id": ids.next(),
                "type": "function",
                "function": {
                    "name": call.get("name", ""),
                    "arguments": orjson.dumps(call.get("args") or {}).decode(),
                },
            }
            signature = part.get("thoughtSignature")
            if isinstance(signature, str):
                tool["extra_content"] = {"google": {"thought_signature": signature}}
            calls.append(tool)
    return "".join(texts), calls


def chat_completion(doc: dict[str, Any], model: str) -> dict[str, Any]:
    """A whole OpenAI ``chat.completion`` for a whole Vertex response (not blocked: see prompt_block)."""
    ids = _Ids(doc.get("responseId"))
    choices = []
    for candidate in doc.get("candidates") or ():
        text, calls = _parts(candidate.get("content"), ids, 0)
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            for call in calls:
                del call["index"]  # only stream deltas carry an index
            message["tool_calls"] = calls
        choices.append(
            {
                "index": candidate.get("index", 0),  # proto3 JSON omits a zero index
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(candidate.get("finishReason"), bool(calls)),
            }
        )
    out: dict[str, Any] = {
        "id": f"chatcmpl-{ids.stem}",
        "object": "chat.completion",
        "created": _created(doc),
        "model": doc.get("modelVersion") or model,
        "choices": choices,
    }
    usage = openai_usage(doc.get("usageMetadata"))
    if usage is not None:
        out["usage"] = usage
    return out


class StreamTranslator:
    """Turns the events of one ``streamGenerateContent?alt=sse`` response into OpenAI chunk frames."""

    __slots__ = (
        "_finished",
        "_head",
        "_ids",
        "_include_usage",
        "_model",
        "_started",
        "_tools",
        "blocked",
        "chars",
        "error",
        "events",
        "final_usage",
        "usage",
    )

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage
        self._head = b""
        self._ids: _Ids | None = None
        self._started: set[int] = set()
        self._tools: dict[int, int] = {}
        self._finished: set[int] = set()
        self.usage: dict[str, Any] | None = None
        # Usage that came with or after the finish (earlier events may carry only the prompt's count).
        self.final_usage = False
        self.blocked: GatewayError | None = None
        self.error: GatewayError | None = None
        self.chars = 0  # visible characters sent, for an estimate when no usage arrives
        self.events = 0

    @property
    def done(self) -> bool:
        """Every candidate seen has finished (nothing more to relay but usage)."""
        return bool(self._finished) and self._finished >= self._started

    def feed(self, events: list[SseEvent]) -> bytes:
        """OpenAI frames for the events of one network chunk (b"" when they carry nothing to relay)."""
        frames = []
        for event in events:
            try:
                doc = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                self.error = GatewayError(
                    502,
                    "The upstream sent an event that is not JSON.",
                    type="api_error",
                    code="upstream_error",
                )
                break
            self.events += 1
            frame = self._event(doc) if isinstance(doc, dict) else b""
            if self.error is not None or self.blocked is not None:
                break
            if frame:
                frames.append(frame)
        return b"".join(frames)

    def usage_frame(self) -> bytes:
        """The usage-only chunk OpenAI sends last when the client asked for ``include_usage``."""
        if not self._include_usage or self.usage is None:
            return b""
        return b"data: " + self._head + b'[],"usage":' + orjson.dumps(self.usage) + b"}\n\n"

    def _event(self, doc: dict[str, Any]) -> bytes:
        if "error" in doc:
            error = doc["error"]
            message = error.get("message") if isinstance(error, dict) else None
            self.error = GatewayError(
                502,
                f"The upstream reported an error mid-stream: {message or 'unknown'}"[:300],
                type="api_error",
                code="upstream_error",
            )
            return b""
        usage = openai_usage(doc.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
            self.final_usage = self.done  # a usage-only event after the finish
        self.blocked = prompt_block(doc)
        candidates = doc.get("candidates")
        if not candidates or self.blocked is not None:
            return b""
        if not self._head:
            self._start(doc)
        choices = [c for c in map(self._choice, candidates) if c is not None]
        if usage is not None and self.done:
            self.final_usage = True
        if not choices:
            return b""
        return b"data: " + self._head + orjson.dumps(choices) + b"}\n\n"

    def _start(self, doc: dict[str, Any]) -> None:
        self._ids = _Ids(doc.get("responseId"))
        head = {
            "id": f"chatcmpl-{self._ids.stem}",
            "object": "chat.completion.chunk",
            "created": _created(doc),
            "model": doc.get("modelVersion") or self._model,
        }
        # '{"id":..,"model":..}' -> '{"id":..,"model":..,"choices":' ; each frame appends its list + '}'.
        self._head = orjson.dumps(head)[:-1] + b',"choices":'

    def _choice(self, candidate: dict[str, Any]) -> dict[str, Any] | None:
        index = candidate.get("index", 0)
        assert self._ids is not None
        base = self._tools.get(index, 0)
        text, calls = _parts(candidate.get("content"), self._ids, base)
        reason = candidate.get("finishReason")
        delta: dict[str, Any] = {}
        if index not in self._started:
            self._started.add(index)
            delta["role"] = "assistant"
        if text:
            delta["content"] = text
            self.chars += len(text)
        if calls:
            delta["tool_calls"] = calls
            self._tools[index] = base + len(calls)
            self.chars += sum(len(c["function"]["arguments"]) for c in calls)
        finish = None
        if reason:
            self._finished.add(index)
            finish = finish_reason(reason, index in self._tools)
        if not delta and finish is None:
            return None
        return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
