"""The native L2 normalization (``brutor._native.normalize_l2``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from brutor._native import EmbedError, normalize_l2

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(st.lists(finite32, min_size=1, max_size=512).filter(lambda v: any(x != 0 for x in v)))
def test_unit_norm_and_same_direction(values: list[float]) -> None:
    vec = np.array(values, dtype="<f4")
    out = np.frombuffer(normalize_l2(vec.tobytes()), dtype="<f4")
    assert out.shape == vec.shape
    out64, vec64 = out.astype(np.float64), vec.astype(np.float64)
    assert abs(np.linalg.norm(out64) - 1.0) <= 1e-5
    # Same direction: the unit input, computed in float64, is the output (to float32 rounding).
    unit = vec64 / np.linalg.norm(vec64)
    assert np.abs(out64 - unit).max() <= 1e-6


@given(st.lists(finite32, min_size=1, max_size=64).filter(lambda v: any(x != 0 for x in v)))
def test_idempotent(values: list[float]) -> None:
    once = normalize_l2(np.array(values, dtype="<f4").tobytes())
    twice = normalize_l2(once)
    assert np.abs(np.frombuffer(once, "<f4") - np.frombuffer(twice, "<f4")).max() <= 2**-23


def test_known_value_and_input_types() -> None:
    raw = np.array([3.0, 0.0, -4.0], dtype="<f4").tobytes()
    expected = np.array([0.6, 0.0, -0.8], dtype="<f4").tobytes()
    for arg in (raw, bytearray(raw), memoryview(raw)):
        assert normalize_l2(arg) == expected
    # A non-contiguous byte view is copied first.
    interleaved = bytes(b for pair in zip(raw, b"\xff" * len(raw), strict=True) for b in pair)
    view = memoryview(interleaved)[::2]
    assert not view.c_contiguous
    assert normalize_l2(view) == expected


@pytest.mark.parametrize(
    ("vec", "match"),
    [
        (b"", "zero vector"),
        (np.zeros(384, dtype="<f4").tobytes(), "zero vector"),
        (np.array([1.0, math.nan], dtype="<f4").tobytes(), "component 1"),
        (np.array([math.inf], dtype="<f4").tobytes(), "component 0"),
        (b"\x00" * 6, "6 bytes"),
    ],
)
def test_errors(vec: bytes, match: str) -> None:
    with pytest.raises(EmbedError, match=match):
        normalize_l2(vec)
    assert issubclass(EmbedError, ValueError)


def test_type_error() -> None:
    with pytest.raises(TypeError):
        normalize_l2("not bytes")  # type: ignore[arg-type]
