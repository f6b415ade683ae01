"""Sentence embeddings for the semantic cache: all-MiniLM-L6-v2 as int8 ONNX, built locally from
the bundled weights (no torch, nothing downloaded), run by onnxruntime off the event loop."""

from brutor.embed.embedder import DEFAULT_MAX_TOKENS, Embedder, cosine, to_array
from brutor.embed.store import MODEL_NAME, Variant, ensure_model
from brutor.embed.weights import ModelFilesError

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "MODEL_NAME",
    "Embedder",
    "ModelFilesError",
    "Variant",
    "cosine",
    "ensure_model",
    "to_array",
]
