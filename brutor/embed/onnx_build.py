"""A BERT encoder as an ONNX graph, written node by node from safetensors weights (no torch).

Inputs ``input_ids`` and ``attention_mask`` (int64, ``[batch, seq]``); output ``last_hidden_state``
(float32, ``[batch, seq, hidden]``). Token type ids are always 0 (one sentence per input), so the
type embedding is row 0 of its table. Op order follows a PyTorch export of ``BertModel`` so that
onnxruntime's fusions (LayerNorm, erf GELU, quantized MatMul) recognise it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

from brutor.embed.weights import BertConfig, ModelFilesError

OPSET = 17


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self, weights: Mapping[str, npt.NDArray[Any]]) -> None:
        self._weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._n = 0

    def weight(self, name: str, *, transpose: bool = False) -> str:
        try:
            arr = np.asarray(self._weights[name], dtype=np.float32)
        except KeyError:
            raise ModelFilesError(f"weight {name!r} missing from the model file") from None
        if transpose:
            arr = arr.T
        return self.const(name, np.ascontiguousarray(arr))

    def const(self, name: str, value: npt.NDArray[Any]) -> str:
        """An initializer; a name already added is reused (the value must be the same)."""
        if name not in self._names:
            self._names.add(name)
            self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        self.nodes.append(
            helper.make_node(op_type, list(inputs), [out], name=f"{op_type}_{self._n}", **attrs)
        )
        return out

    def linear(self, x: str, prefix: str) -> str:
        # A torch Linear: y = x @ W^T + b, W stored [out, in].
        w = self.weight(f"{prefix}.weight", transpose=True)
        return self.op("Add", self.op("MatMul", x, w), self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        scale, bias = self.weight(f"{prefix}.weight"), self.weight(f"{prefix}.bias")
        return self.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=eps)


def build_bert(weights: Mapping[str, npt.NDArray[Any]], cfg: BertConfig) -> onnx.ModelProto:
    """The fp32 encoder graph of ``cfg`` with ``weights`` (HF ``BertModel`` names) as initializers."""
    _check_shapes(weights, cfg)
    g = _Graph(weights)
    hidden = _embeddings(g, weights, cfg)
    mask = _extended_mask(g)
    for i in range(cfg.num_layers):
        hidden = _layer(g, hidden, mask, f"encoder.layer.{i}", cfg)
    g.nodes.append(helper.make_node("Identity", [hidden], ["last_hidden_state"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        "bert_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [
            helper.make_tensor_value_info(
                "last_hidden_state", TensorProto.FLOAT, ["batch", "seq", cfg.hidden_size]
            )
        ],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="brutor")
    onnx.checker.check_model(model)
    return model


def _check_shapes(weights: Mapping[str, npt.NDArray[Any]], cfg: BertConfig) -> None:
    h, i = cfg.hidden_size, cfg.intermediate_size
    want: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (cfg.vocab_size, h),
        "embeddings.position_embeddings.weight": (cfg.max_positions, h),
        "embeddings.token_type_embeddings.weight": (cfg.type_vocab_size, h),
    }
    for n in range(cfg.num_layers):
        p = f"encoder.layer.{n}"
        want |= {f"{p}.attention.self.{x}.weight": (h, h) for x in ("query", "key", "value")}
        want |= {f"{p}.intermediate.dense.weight": (i, h), f"{p}.output.dense.weight": (h, i)}
    for name, shape in want.items():
        got = weights[name].shape if name in weights else None
        if got != shape:
            raise ModelFilesError(f"weight {name!r}: shape {got}, config.json wants {shape}")


def _embeddings(g: _Graph, weights: Mapping[str, npt.NDArray[Any]], cfg: BertConfig) -> str:
    words = g.op("Gather", g.weight("embeddings.word_embeddings.weight"), "input_ids", axis=0)
    # Positions 0..seq-1: the first `seq` rows of the position table.
    one = g.const("one_i64", np.array(1, dtype=np.int64))
    seq = g.op("Gather", g.op("Shape", "input_ids"), one, axis=0)
    positions = g.op("Range", g.const("zero_i64", np.array(0, dtype=np.int64)), seq, one)
    pos = g.op("Gather", g.weight("embeddings.position_embeddings.weight"), positions, axis=0)
    try:
        type0 = np.ascontiguousarray(weights["embeddings.token_type_embeddings.weight"][0], dtype=np.float32)
    except KeyError:
        raise ModelFilesError("weight 'embeddings.token_type_embeddings.weight' missing") from None
    summed = g.op("Add", g.op("Add", words, g.const("token_type_0", type0)), pos)
    return g.layer_norm(summed, "embeddings.LayerNorm", cfg.layer_norm_eps)


def _extended_mask(g: _Graph) -> str:
    # [batch, seq] of 1/0 → [batch, 1, 1, seq] of 0 / float32 min, added to the attention scores.
    mask = g.op(
        "Cast",
        g.op("Unsqueeze", "attention_mask", g.const("axes_1_2", np.array([1, 2], dtype=np.int64))),
        to=1,
    )
    inverted = g.op("Sub", g.const("one_f32", np.array(1.0, dtype=np.float32)), mask)
    return g.op("Mul", inverted, g.const("mask_fill", np.array(np.finfo(np.float32).min, dtype=np.float32)))


def _layer(g: _Graph, x: str, mask: str, p: str, cfg: BertConfig) -> str:
    head_dim = cfg.hidden_size // cfg.num_heads
    split = g.const("split_heads", np.array([0, 0, cfg.num_heads, head_dim], dtype=np.int64))

    def heads(prefix: str, perm: list[int]) -> str:
        return g.op("Transpose", g.op("Reshape", g.linear(x, prefix), split), perm=perm)

    q = heads(f"{p}.attention.self.query", [0, 2, 1, 3])  # [b, h, s, d]
    k = heads(f"{p}.attention.self.key", [0, 2, 3, 1])  # [b, h, d, s]
    v = heads(f"{p}.attention.self.value", [0, 2, 1, 3])
    scale = g.const("attn_scale", np.array(math.sqrt(head_dim), dtype=np.float32))
    scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), scale), mask)
    probs = g.op("Softmax", scores, axis=-1)
    context = g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3])
    merge = g.const("merge_heads", np.array([0, 0, cfg.hidden_size], dtype=np.int64))
    attn = g.linear(g.op("Reshape", context, merge), f"{p}.attention.output.dense")
    x = g.layer_norm(g.op("Add", attn, x), f"{p}.attention.output.LayerNorm", cfg.layer_norm_eps)
    inner = _gelu(g, g.linear(x, f"{p}.intermediate.dense"))
    out = g.linear(inner, f"{p}.output.dense")
    return g.layer_norm(g.op("Add", out, x), f"{p}.output.LayerNorm", cfg.layer_norm_eps)


def _gelu(g: _Graph, x: str) -> str:
    # 0.5 * x * (1 + erf(x / sqrt(2))), in the order onnxruntime's GeluFusion matches.
    sqrt2 = g.const("gelu_sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    one = g.const("one_f32", np.array(1.0, dtype=np.float32))
    half = g.const("gelu_half", np.array(0.5, dtype=np.float32))
    return g.op("Mul", g.op("Mul", x, g.op("Add", g.op("Erf", g.op("Div", x, sqrt2)), one)), half)


def quantize_int8(model: onnx.ModelProto, workdir: Path) -> bytes:
    """Dynamic int8 quantization (per-channel weights, activations quantized at run time) of
    ``model``; ``workdir`` holds the intermediate files."""
    # Imported here: the quantization tooling is only needed to build, not to serve.
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

    out = workdir / "model.int8.onnx"
    quantize_dynamic(
        model,
        out,
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    return out.read_bytes()
