"""Many streams at once: every one completes with exactly its own content."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from e2e_support import make_async_client, offline_answer
from mock_openai import chat_reply

N_STREAMS = 20


async def _one_stream(ac: Any, model: str, text: str) -> tuple[str, str | None, int]:
    stream = await ac.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    finish = None
    usage_chunks = 0
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        elif chunk.usage is not None:
            usage_chunks += 1
    return "".join(parts), finish, usage_chunks


def test_concurrent_streams_mixed_providers(gateway: Any, mock: Any) -> None:
    jobs = []
    for i in range(N_STREAMS):
        model = "gpt-4o-mini" if i % 2 else "offline/echo"
        jobs.append((model, f"concurrent stream number {i} with marker c{i:03d}"))

    async def main() -> list[tuple[str, str | None, int]]:
        async with make_async_client(gateway, timeout=60) as ac:
            return await asyncio.gather(*(_one_stream(ac, m, t) for m, t in jobs))

    started = time.monotonic()
    results = asyncio.run(main())
    elapsed = time.monotonic() - started
    for (model, text), (content, finish, usage_chunks) in zip(jobs, results, strict=True):
        expected = (
            offline_answer(text)
            if model == "offline/echo"
            else chat_reply([{"role": "user", "content": text}])
        )
        assert content == expected, (model, text)
        assert finish == "stop"
        assert usage_chunks == 1
    assert elapsed < 30
    # every upstream-backed stream reached the upstream exactly once
    bodies = [r["raw_body"] for r in mock.requests("/v1/chat/completions")]
    for model, text in jobs:
        if model == "gpt-4o-mini":
            assert sum(text in b for b in bodies) == 1


def test_concurrent_slow_streams_interleave(gateway: Any, mock: Any) -> None:
    """Streams are served concurrently, not one after another: 10 slow streams (0.2 s per chunk) that
    each read 5 chunks take ~1 s in total, not ~10 s."""

    async def read_some(ac: Any, i: int) -> int:
        stream = await ac.chat.completions.create(
            model="slow-stream", messages=[{"role": "user", "content": f"slow {i}"}], stream=True
        )
        got = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                got += 1
                if got == 5:
                    break
        await stream.close()
        return got

    async def main() -> list[int]:
        async with make_async_client(gateway, timeout=60) as ac:
            return await asyncio.gather(*(read_some(ac, i) for i in range(10)))

    started = time.monotonic()
    assert asyncio.run(main()) == [5] * 10
    assert time.monotonic() - started < 5
    assert mock.wait_for(lambda: mock.open_streams() == 0, 3), "upstream streams left open after clients left"


def test_concurrent_non_stream_requests(gateway: Any) -> None:
    async def one(ac: Any, i: int) -> str:
        model = "gpt-4o-mini" if i % 3 == 0 else "offline/echo"
        r = await ac.chat.completions.create(model=model, messages=[{"role": "user", "content": f"ns {i}"}])
        return r.choices[0].message.content

    async def main() -> list[str]:
        async with make_async_client(gateway, timeout=60) as ac:
            return await asyncio.gather(*(one(ac, i) for i in range(60)))

    results = asyncio.run(main())
    for i, content in enumerate(results):
        text = f"ns {i}"
        expected = chat_reply([{"role": "user", "content": text}]) if i % 3 == 0 else offline_answer(text)
        assert content == expected
