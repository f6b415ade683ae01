"""Building the embedding model once into a cache directory (``python -m brutor.embed.build``
does it ahead of time).

The ONNX file is derived from the bundled safetensors weights (``brutor.embed.onnx_build``) the
first time it is needed, written atomically (temporary file + rename) under an exclusive lock so
that several workers starting at once build it once. Its name carries a key of its sources (the
weights, ``config.json``, the graph version and the variant), so changed weights or a changed
graph give a new file and never reuse a stale one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from brutor.embed.weights import BertConfig, model_dir, parse_safetensors

Variant = Literal["int8", "fp32"]
MODEL_NAME = "all-MiniLM-L6-v2"
# Bump when the graph built by ``onnx_build`` or its quantization changes: part of the file key.
# (Kept here so that loading a built model does not import onnx.)
GRAPH_VERSION = 1

log = logging.getLogger("brutor.embed")


def source_key(source: Path, variant: Variant) -> str:
    """A key of everything the built file depends on."""
    h = hashlib.sha256(f"{MODEL_NAME}\0graph={GRAPH_VERSION}\0{variant}\0".encode())
    h.update((source / "config.json").read_bytes())
    with (source / "model.safetensors").open("rb") as f:
        h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()[:16]


def model_path(cache_dir: Path, source: Path, variant: Variant) -> Path:
    return cache_dir / f"{MODEL_NAME}.{variant}.{source_key(source, variant)}.onnx"


def ensure_model(
    cache_dir: str | os.PathLike[str], variant: Variant = "int8", source: Path | None = None
) -> Path:
    """The path of the built model in ``cache_dir``, building it first if it is missing."""
    src = source if source is not None else model_dir()
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = model_path(cache, src, variant)
    if path.is_file():
        return path
    with _lock(cache / ".embed-build.lock"):
        if path.is_file():  # another process built it while this one waited
            return path
        for stale in cache.glob(f".{path.name}.*.tmp"):  # left by a build that was killed
            stale.unlink(missing_ok=True)
        log.info("building the %s %s embedding model (one time) into %s", MODEL_NAME, variant, path)
        start = time.perf_counter()
        data = _build(src, variant)
        _write_atomic(path, data)
        log.info("built %s in %.1f s (%.1f MB)", path.name, time.perf_counter() - start, len(data) / 1e6)
    return path


def _build(source: Path, variant: Variant) -> bytes:
    from brutor.embed import onnx_build

    weights = parse_safetensors((source / "model.safetensors").read_bytes())
    model = onnx_build.build_bert(weights, BertConfig.load(source / "config.json"))
    if variant == "fp32":
        data: bytes = model.SerializeToString()
        return data
    with tempfile.TemporaryDirectory(prefix="brutor-embed-") as work, _quiet_quantizer():
        return onnx_build.quantize_int8(model, Path(work))


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; other users (e.g. a container's) may read it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    # onnxruntime's quantizer warns on the root logger that shape pre-processing was not run: it is
    # not needed here (every MatMul weight is a constant of known shape).
    root = logging.getLogger()
    hint = _DropPreprocessHint()
    root.addFilter(hint)
    try:
        yield
    finally:
        root.removeFilter(hint)
