"""The embedder on the real model: quality, truncation, identity, determinism, the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brutor.embed import Embedder, cosine, to_array

# Twelve sentences of various lengths and topics.
SENTENCES = [
    "How do I reset my password?",
    "What is the capital of France?",
    "Translate 'good morning' into Spanish.",
    "Write a haiku about the sea in autumn.",
    "The quarterly revenue grew by 12 percent compared to last year.",
    "Explain the difference between TCP and UDP in simple terms.",
    "My order #48213 arrived damaged; I would like a refund or a replacement please.",
    "List three side effects of ibuprofen.",
    "def fib(n): return n if n < 2 else fib(n - 1) + fib(n - 2)",
    "Summarize the plot of Pride and Prejudice in two sentences.",
    "Which is heavier, a kilogram of feathers or a kilogram of steel?",
    " ".join(["The committee reviewed the proposal in detail before voting."] * 12),
]

PARAPHRASES = [
    ("How do I reset my password?", "I forgot my password, how can I change it?"),
    ("What is the capital of France?", "Which city is France's capital?"),
    ("Recommend a good book about the history of Rome.", "Can you suggest a book on ancient Roman history?"),
    ("How long should I boil an egg?", "What's the boiling time for an egg?"),
]


@pytest.mark.parametrize("text", SENTENCES)
def test_int8_close_to_fp32(int8: Embedder, fp32: Embedder, text: str) -> None:
    assert cosine(int8.embed(text), fp32.embed(text)) >= 0.95


@pytest.mark.parametrize("emb_name", ["int8", "fp32"])
def test_paraphrases_beat_unrelated(emb_name: str, request: pytest.FixtureRequest) -> None:
    emb: Embedder = request.getfixturevalue(emb_name)
    vecs = [(emb.embed(a), emb.embed(b)) for a, b in PARAPHRASES]
    for i, (a, b) in enumerate(vecs):
        same = cosine(a, b)
        assert same > 0.7
        for j, (c, d) in enumerate(vecs):
            if i != j:
                assert same > cosine(a, c) + 0.3
                assert same > cosine(a, d) + 0.3


def test_vector_shape_and_norm(int8: Embedder) -> None:
    vec = int8.embed("hello")
    assert isinstance(vec, bytes) and len(vec) == int8.dims * 4 == 384 * 4
    assert abs(float(np.linalg.norm(to_array(vec).astype(np.float64))) - 1.0) < 1e-5
    assert int8.embed("") != vec  # empty text still embeds ([CLS] [SEP])


def test_deterministic(int8: Embedder) -> None:
    text = SENTENCES[6]
    first = int8.embed(text)
    assert all(int8.embed(text) == first for _ in range(5))


def test_fits_and_truncation(int8: Embedder) -> None:
    assert int8.max_tokens == 256
    assert int8.token_count("Hello world") == 4
    assert int8.token_count("") == 2
    exact = "word " * 254  # 254 tokens + [CLS] + [SEP]
    assert int8.token_count(exact) == 256 and int8.fits(exact)
    longer = exact + "tail"
    assert int8.token_count(longer) == 257 and not int8.fits(longer)
    # Beyond the window the text is cut: what follows it changes nothing.
    assert int8.embed(exact + "apple pie") == int8.embed(exact + "quantum physics")
    assert int8.embed("word " * 10 + "apple pie") != int8.embed("word " * 10 + "quantum physics")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=260) | st.text(max_size=260))
def test_fits_fast_path_agrees_with_counting_tokens(int8: Embedder, text: str) -> None:
    # Short ASCII text is admitted without tokenizing; everything else is counted.
    assert int8.fits(text) == (int8.token_count(text) <= int8.max_tokens)


def test_ids(model_cache: Path, int8: Embedder, fp32: Embedder) -> None:
    assert int8.id.startswith("all-MiniLM-L6-v2/int8-onnx@")
    assert fp32.id.startswith("all-MiniLM-L6-v2/fp32-onnx@")
    again = Embedder.load(model_cache)
    short = Embedder.load(model_cache, max_tokens=128)
    try:
        assert again.id == int8.id
        assert short.id not in (int8.id, fp32.id)
        assert short.fits("word " * 126) and not short.fits("word " * 127)
    finally:
        again.close()
        short.close()
    assert "int8-onnx@" in repr(int8)


def test_id_is_stable_across_processes(model_cache: Path, int8: Embedder) -> None:
    import subprocess
    import sys

    code = "import sys; from brutor.embed import Embedder; print(Embedder.load(sys.argv[1]).id)"
    out = subprocess.run(
        [sys.executable, "-c", code, str(model_cache)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == int8.id


def test_bad_max_tokens(model_cache: Path) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        Embedder.load(model_cache, max_tokens=1000)


def test_aembed_runs_off_the_loop(int8: Embedder) -> None:
    long_text = SENTENCES[-1] * 2
    threads: set[str] = set()
    real_embed = int8.embed

    def spy(text: str) -> bytes:
        threads.add(threading.current_thread().name)
        return real_embed(text)

    async def main() -> tuple[list[bytes], int, float]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.002)
                ticks += 1

        task = asyncio.create_task(ticker())
        start = time.perf_counter()
        vecs = await asyncio.gather(*(int8.aembed(long_text) for _ in range(8)))
        elapsed = time.perf_counter() - start
        assert int8.in_flight == 0
        stop.set()
        await task
        return vecs, ticks, elapsed

    int8.embed = spy  # type: ignore[method-assign]
    try:
        vecs, ticks, elapsed = asyncio.run(main())
    finally:
        del int8.embed
    assert threads == {"brutor-embed_0"}
    assert all(v == real_embed(long_text) for v in vecs)
    # The loop kept ticking while ~8 long prompts were embedded: it was never blocked for long.
    assert ticks >= max(3, int(elapsed / 0.002 * 0.1)), (ticks, elapsed)


def test_build_and_embed_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is fetched: the build and the embedder work with every socket connection refused."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    emb = Embedder.load(tmp_path / "models")
    try:
        assert len(emb.embed("offline")) == 384 * 4
    finally:
        emb.close()
