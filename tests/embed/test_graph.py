"""The ONNX graph is BERT: checked against an independent numpy forward pass, on the real
all-MiniLM-L6-v2 weights and on tiny random models (where a wrong op would show at once)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort  # type: ignore[import-untyped]
import pytest
from conftest import TINY_CONFIG, tiny_weights
from embed_reference import forward, sentence_embedding

from brutor.embed import Embedder, to_array
from brutor.embed.onnx_build import build_bert
from brutor.embed.weights import BertConfig, ModelFilesError

SENTENCES = [
    "A man is eating food.",
    "The new movie is awesome, I loved every minute of it!",
    "How do I reset my password if I no longer have access to my email address?",
    "Élan, naïveté and café: accents are stripped — and 数字 are split.",
]


def _session(model_bytes: bytes) -> Any:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def test_tokenizer_is_bert_uncased(fp32: Embedder) -> None:
    enc = fp32._tok.encode("Hello world")
    assert enc.ids == [101, 7592, 2088, 102]


@pytest.mark.parametrize("text", SENTENCES)
def test_fp32_graph_matches_numpy_reference(
    fp32: Embedder, real_weights: tuple[dict[str, npt.NDArray[Any]], BertConfig], text: str
) -> None:
    weights, cfg = real_weights
    ids = fp32._tok.encode(text).ids
    expected = sentence_embedding(weights, cfg, ids)
    got = to_array(fp32.embed(text)).astype(np.float64)
    assert np.abs(got - expected).max() < 1e-4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tiny_random_bert_matches_reference_with_padding(seed: int) -> None:
    """Random weights (so no op can hide behind trained values), a batch of two with the shorter
    one right-padded: the mask must keep padding out of attention."""
    weights = tiny_weights(seed)
    cfg = BertConfig.from_json(TINY_CONFIG)
    session = _session(build_bert(weights, cfg).SerializeToString())
    rng = np.random.default_rng(seed)
    long_ids = [int(x) for x in rng.integers(0, cfg.vocab_size, 11)]
    short_ids = long_ids[:4]
    batch = np.zeros((2, len(long_ids)), dtype=np.int64)
    batch[0], batch[1, : len(short_ids)] = long_ids, short_ids
    mask = np.zeros_like(batch)
    mask[0], mask[1, : len(short_ids)] = 1, 1
    (hidden,) = session.run(["last_hidden_state"], {"input_ids": batch, "attention_mask": mask})
    assert hidden.shape == (2, len(long_ids), cfg.hidden_size)
    np.testing.assert_allclose(hidden[0], forward(weights, cfg, long_ids), atol=1e-4)
    np.testing.assert_allclose(hidden[1, : len(short_ids)], forward(weights, cfg, short_ids), atol=1e-4)


def test_weights_must_match_the_config() -> None:
    weights = tiny_weights(0)
    with pytest.raises(ModelFilesError, match="intermediate"):
        build_bert(weights, BertConfig.from_json(TINY_CONFIG | {"intermediate_size": 32}))
    del weights["encoder.layer.1.attention.self.key.weight"]
    with pytest.raises(ModelFilesError, match="key"):
        build_bert(weights, BertConfig.from_json(TINY_CONFIG))
