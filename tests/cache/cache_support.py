"""Helpers of the cache suite: a clock to move by hand and unit vectors at a chosen cosine."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

REDIS_URL = "redis://127.0.0.1:6379/0"
DIMS = 384


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def unit(seed: int, dims: int = DIMS) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def near(v: npt.NDArray[np.float32], cos: float, seed: int = 99) -> npt.NDArray[np.float32]:
    """A unit vector at cosine ``cos`` from unit vector ``v``."""
    r = unit(seed, v.size)
    ortho = r - float(r @ v) * v
    ortho /= np.linalg.norm(ortho)
    out = cos * v + float(np.sqrt(1 - cos * cos)) * ortho
    return out.astype(np.float32)
