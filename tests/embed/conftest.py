"""Fixtures of the embedder tests: the real model is built once per session into a temporary
cache directory (a few seconds); tiny random BERT models exercise the builder and the store."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from brutor.embed import Embedder
from brutor.embed.weights import BertConfig, model_dir, parse_safetensors


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def int8(model_cache: Path) -> Iterator[Embedder]:
    emb = Embedder.load(model_cache)
    yield emb
    emb.close()


@pytest.fixture(scope="session")
def fp32(model_cache: Path) -> Iterator[Embedder]:
    emb = Embedder.load(model_cache, variant="fp32")
    yield emb
    emb.close()


@pytest.fixture(scope="session")
def real_weights() -> tuple[dict[str, npt.NDArray[Any]], BertConfig]:
    src = model_dir()
    return parse_safetensors((src / "model.safetensors").read_bytes()), BertConfig.load(src / "config.json")


TINY_CONFIG: dict[str, Any] = {
    "hidden_act": "gelu",
    "hidden_size": 16,
    "intermediate_size": 24,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 32,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "position_embedding_type": "absolute",
    "type_vocab_size": 2,
    "vocab_size": 50,
}


def tiny_weights(seed: int, cfg: Mapping[str, Any] = TINY_CONFIG) -> dict[str, npt.NDArray[np.float32]]:
    """Random weights with the names and shapes of HF ``BertModel``."""
    rng = np.random.default_rng(seed)
    h, i = cfg["hidden_size"], cfg["intermediate_size"]
    shapes: dict[str, tuple[int, ...]] = {
        "embeddings.word_embeddings.weight": (cfg["vocab_size"], h),
        "embeddings.position_embeddings.weight": (cfg["max_position_embeddings"], h),
        "embeddings.token_type_embeddings.weight": (cfg["type_vocab_size"], h),
        "embeddings.LayerNorm.weight": (h,),
        "embeddings.LayerNorm.bias": (h,),
    }
    for n in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{n}"
        for name in ("query", "key", "value"):
            shapes[f"{p}.attention.self.{name}.weight"] = (h, h)
            shapes[f"{p}.attention.self.{name}.bias"] = (h,)
        shapes |= {
            f"{p}.attention.output.dense.weight": (h, h),
            f"{p}.attention.output.dense.bias": (h,),
            f"{p}.attention.output.LayerNorm.weight": (h,),
            f"{p}.attention.output.LayerNorm.bias": (h,),
            f"{p}.intermediate.dense.weight": (i, h),
            f"{p}.intermediate.dense.bias": (i,),
            f"{p}.output.dense.weight": (h, i),
            f"{p}.output.dense.bias": (h,),
            f"{p}.output.LayerNorm.weight": (h,),
            f"{p}.output.LayerNorm.bias": (h,),
        }
    return {k: (rng.standard_normal(s) * 0.5).astype(np.float32) for k, s in shapes.items()}


def write_safetensors(tensors: Mapping[str, npt.NDArray[Any]]) -> bytes:
    codes = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {
            "dtype": codes[arr.dtype],
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def write_tiny_source(directory: Path, seed: int = 0) -> Path:
    """A model directory (config.json + model.safetensors) of a tiny random BERT."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(TINY_CONFIG))
    (directory / "model.safetensors").write_bytes(write_safetensors(tiny_weights(seed)))
    return directory
