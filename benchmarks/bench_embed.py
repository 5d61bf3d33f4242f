"""Embedding throughput on the same texts: the onnx-int8 backend against torch fp32.

Usage:
    python benchmarks/bench_embed.py --scifact PATH/TO/beir-scifact [--texts 300] [--rounds 3]

The first --texts SciFact abstracts (title + text) are embedded by both backends in one process
(torch at batch 32 as plain sentence-transformers is used, onnx-int8 with its defaults: batches of
32, one per core at a time),
alternating, --rounds times each; the script prints median wall and CPU seconds per backend, their
ratios, and the cosine between the two backends' vectors (min and mean). Alternating rounds on the
same texts keeps the ratio fair on a machine that other jobs share.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def scifact_texts(folder: Path, n: int) -> list[str]:
    """The first `n` abstracts of a BEIR SciFact folder, title and text, as a peer would embed them."""
    texts = []
    with open(folder / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            texts.append((d.get("title", "") + " " + d.get("text", "")).strip())
            if len(texts) >= n:
                break
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scifact", type=Path, required=True)
    ap.add_argument("--texts", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    from rag.index.embedding import load_embedder

    texts = scifact_texts(a.scifact, a.texts)
    backends = {b: load_embedder("all-MiniLM-L6-v2", backend=b) for b in ("onnx-int8", "torch")}
    for emb in backends.values():
        emb.embed(texts[:8])
    wall: dict[str, list[float]] = {b: [] for b in backends}
    cpu: dict[str, list[float]] = {b: [] for b in backends}
    vecs = {}
    for _ in range(a.rounds):
        for b, emb in backends.items():
            t, c = time.perf_counter(), time.process_time()
            # torch as plain sentence-transformers is used (batch 32); onnx-int8 with its own settings
            vecs[b] = emb.embed(texts, batch_size=32) if b == "torch" else emb.embed(texts)
            wall[b].append(time.perf_counter() - t)
            cpu[b].append(time.process_time() - c)
    cos = (vecs["onnx-int8"] * vecs["torch"]).sum(axis=1)
    out = {b: {"wall_s": statistics.median(wall[b]), "cpu_s": statistics.median(cpu[b]),
               "texts_per_s": len(texts) / statistics.median(wall[b])} for b in backends}
    out["ratio_wall"] = out["torch"]["wall_s"] / out["onnx-int8"]["wall_s"]
    out["ratio_cpu"] = out["torch"]["cpu_s"] / out["onnx-int8"]["cpu_s"]
    out["cosine_min"], out["cosine_mean"] = float(np.min(cos)), float(np.mean(cos))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
