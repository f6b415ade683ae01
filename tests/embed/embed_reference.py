"""A pure-numpy (float64) BERT forward pass and mean pooling, written from the BERT paper and the
HF ``BertModel`` code, independent of the ONNX graph builder: the graph is checked against it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from brutor.embed.weights import BertConfig

F64 = npt.NDArray[np.float64]
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _w(weights: Mapping[str, npt.NDArray[Any]], name: str) -> F64:
    return np.asarray(weights[name], dtype=np.float64)


def _layer_norm(x: F64, gamma: F64, beta: F64, eps: float) -> F64:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: F64 = (x - mean) / np.sqrt(var + eps) * gamma + beta
    return out


def _dense(weights: Mapping[str, npt.NDArray[Any]], x: F64, prefix: str) -> F64:
    return x @ _w(weights, f"{prefix}.weight").T + _w(weights, f"{prefix}.bias")


def forward(weights: Mapping[str, npt.NDArray[Any]], cfg: BertConfig, ids: Sequence[int]) -> F64:
    """last_hidden_state ``[seq, hidden]`` of one unpadded sequence (token types all 0)."""
    n = len(ids)
    x = (
        _w(weights, "embeddings.word_embeddings.weight")[list(ids)]
        + _w(weights, "embeddings.position_embeddings.weight")[:n]
        + _w(weights, "embeddings.token_type_embeddings.weight")[0]
    )
    eps = cfg.layer_norm_eps
    x = _layer_norm(
        x, _w(weights, "embeddings.LayerNorm.weight"), _w(weights, "embeddings.LayerNorm.bias"), eps
    )
    h, d = cfg.num_heads, cfg.hidden_size // cfg.num_heads
    for i in range(cfg.num_layers):
        p = f"encoder.layer.{i}"
        q, k, v = (
            _dense(weights, x, f"{p}.attention.self.{name}").reshape(n, h, d).transpose(1, 0, 2)
            for name in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(1, 0, 2).reshape(n, h * d)
        a = _dense(weights, ctx, f"{p}.attention.output.dense") + x
        x = _layer_norm(
            a,
            _w(weights, f"{p}.attention.output.LayerNorm.weight"),
            _w(weights, f"{p}.attention.output.LayerNorm.bias"),
            eps,
        )
        inner = _dense(weights, x, f"{p}.intermediate.dense")
        inner = 0.5 * inner * (1.0 + _erf(inner / math.sqrt(2.0)))
        o = _dense(weights, inner, f"{p}.output.dense") + x
        x = _layer_norm(
            o, _w(weights, f"{p}.output.LayerNorm.weight"), _w(weights, f"{p}.output.LayerNorm.bias"), eps
        )
    return x


def sentence_embedding(weights: Mapping[str, npt.NDArray[Any]], cfg: BertConfig, ids: Sequence[int]) -> F64:
    """Mean over the tokens, L2-normalized (sentence-transformers' Pooling + Normalize)."""
    pooled = forward(weights, cfg, ids).mean(axis=0)
    out: F64 = pooled / np.linalg.norm(pooled)
    return out
