"""The safetensors reader and the model files' location."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from conftest import TINY_CONFIG, write_safetensors

from brutor.embed import weights as w
from brutor.embed.weights import BertConfig, ModelFilesError, parse_safetensors


def test_round_trip() -> None:
    tensors = {"a": np.arange(6, dtype="<f4").reshape(2, 3), "b": np.array([7, -1], dtype="<i8")}
    parsed = parse_safetensors(write_safetensors(tensors))
    assert set(parsed) == {"a", "b"}
    np.testing.assert_array_equal(parsed["a"], tensors["a"])
    np.testing.assert_array_equal(parsed["b"], tensors["b"])
    assert parsed["a"].dtype == np.float32


def _file(header: object, data: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + data


@pytest.mark.parametrize(
    "blob",
    [
        b"\x01\x02",
        struct.pack("<Q", 1 << 40) + b"{}",
        struct.pack("<Q", 3) + b"{x}",
        _file([]),
        _file({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
        _file({"t": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8),
        _file({"t": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
        _file({"t": {"dtype": "F32", "shape": [1]}}, b"\0" * 4),
    ],
)
def test_malformed_files_are_rejected(blob: bytes) -> None:
    with pytest.raises(ModelFilesError):
        parse_safetensors(blob)


def test_config_checks() -> None:
    assert BertConfig.from_json(TINY_CONFIG).hidden_size == 16
    with pytest.raises(ModelFilesError, match="hidden_act"):
        BertConfig.from_json(TINY_CONFIG | {"hidden_act": "relu"})
    with pytest.raises(ModelFilesError, match="position_embedding_type"):
        BertConfig.from_json(TINY_CONFIG | {"position_embedding_type": "relative_key"})
    with pytest.raises(ModelFilesError, match="multiple"):
        BertConfig.from_json(TINY_CONFIG | {"num_attention_heads": 5})


def test_model_dir_is_found_without_importing_the_package() -> None:
    import sys

    path = w.model_dir()
    assert (path / "tokenizer.json").is_file()
    assert w.MODEL_PACKAGE not in sys.modules


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(w, "MODEL_PACKAGE", "no_such_model_package_here")
    with pytest.raises(ModelFilesError, match="not installed"):
        w.model_dir()
