"""The offline provider: deterministic answers with no network, so a fresh install answers at once.

It is labelled as offline everywhere a client can see (``owned_by``, ``system_fingerprint``). Chat echoes
the last user message; embeddings are feature-hashed bag-of-words vectors (L2-normalised), so texts that
share words are close — useful for trying the gateway, not a language model.
"""

from __future__ import annotations

import base64
import hashlib
import time
from array import array
from collections.abc import AsyncGenerator
from typing import Any

import orjson

from brutor.context import RequestContext
from brutor.errors import bad_request
from brutor.pipeline.reply import Headers, Reply, StreamReply, json_reply
from brutor.providers.base import Deployment
from brutor.providers.messages import count_words, last_user_text, message_texts

OWNER = "brutor-offline"
EMBED_DIMS = 384
_SSE_HEADERS: Headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]


def answer_text(payload: dict[str, Any]) -> str:
    said = last_user_text(payload.get("messages") or [])
    fmt = payload.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        return orjson.dumps({"model": "offline", "you_said": said}).decode()
    return f"This is Brutor's offline model. You said: {said}"


def _limit(payload: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _words(text: str) -> list[str]:
    """The answer as stream pieces: words, each but the first keeping its leading space."""
    parts = text.split(" ")
    return [parts[0], *(" " + p for p in parts[1:])]


class OfflineProvider:
    owner = OWNER

    def __init__(self, name: str) -> None:
        self.name = name

    async def aclose(self) -> None:
        return None

    async def chat(
        self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]
    ) -> Reply | StreamReply:
        pieces = _words(answer_text(payload))
        finish = "stop"
        limit = _limit(payload)
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        n = payload.get("n", 1)
        n = n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 8 else 1
        prompt = sum(count_words(t) for t in message_texts(payload.get("messages") or []))
        ctx.usage.prompt_tokens = prompt
        ctx.usage.completion_tokens = len(pieces) * n
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": len(pieces) * n,
            "total_tokens": prompt + len(pieces) * n,
        }
        base = {
            "id": f"chatcmpl-brutor-{ctx.request_id}",
            "created": int(time.time()),
            "model": deployment.name,
            "system_fingerprint": OWNER,
        }
        if not ctx.call or not ctx.call.stream:
            content = "".join(pieces)
            choices = [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
                for i in range(n)
            ]
            ctx.mark_first_token()
            return json_reply(200, {**base, "object": "chat.completion", "choices": choices, "usage": usage})
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunks = _stream(
            ctx,
            {**base, "object": "chat.completion.chunk"},
            pieces,
            finish,
            n,
            usage if include_usage else None,
        )
        return StreamReply(200, list(_SSE_HEADERS), chunks, chunks.aclose)

    async def embeddings(self, ctx: RequestContext, deployment: Deployment, payload: dict[str, Any]) -> Reply:
        texts = embedding_inputs(payload.get("input"))
        dims = payload.get("dimensions", EMBED_DIMS)
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= EMBED_DIMS:
            raise bad_request(f"'dimensions' must be an integer from 1 to {EMBED_DIMS}.", param="dimensions")
        fmt = payload.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            raise bad_request("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
        data = []
        for i, text in enumerate(texts):
            vec = hashed_embedding(text, dims)
            value: Any = base64.b64encode(array("f", vec).tobytes()).decode() if fmt == "base64" else vec
            data.append({"object": "embedding", "index": i, "embedding": value})
        tokens = sum(count_words(t) for t in texts)
        ctx.usage.prompt_tokens = tokens
        ctx.mark_first_token()
        body = {
            "object": "list",
            "data": data,
            "model": deployment.name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return json_reply(200, body)


async def _stream(
    ctx: RequestContext,
    base: dict[str, Any],
    pieces: list[str],
    finish: str,
    n: int,
    usage: dict[str, int] | None,
) -> AsyncGenerator[bytes, None]:
    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        return b"data: " + orjson.dumps({**base, "choices": choices, **extra}) + b"\n\n"

    ctx.mark_first_token()
    for i in range(n):
        yield event(
            [
                {
                    "index": i,
                    "delta": {"role": "assistant", "content": ""},
                    "logprobs": None,
                    "finish_reason": None,
                }
            ]
        )
    for piece in pieces:
        yield event(
            [
                {"index": i, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}
                for i in range(n)
            ]
        )
    yield event([{"index": i, "delta": {}, "logprobs": None, "finish_reason": finish} for i in range(n)])
    if usage is not None:
        yield event([], usage=usage)


def embedding_inputs(value: Any) -> list[str]:
    """OpenAI accepts a string, a list of strings, or token arrays; the offline model takes text."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return [" ".join(map(str, value))]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [" ".join(map(str, v)) for v in value]
    raise bad_request("'input' must be a non-empty string, list of strings, or token arrays.", param="input")


def hashed_embedding(text: str, dims: int) -> list[float]:
    vec = [0.0] * dims
    for word in text.lower().split():
        h = hashlib.blake2b(word.encode(), digest_size=8).digest()
        bucket = int.from_bytes(h[:4], "little") % dims
        vec[bucket] += 1.0 if h[4] & 1 else -1.0
    norm = sum(v * v for v in vec) ** 0.5
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [v / norm for v in vec]
