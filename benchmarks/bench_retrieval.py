"""Tune and compare retrieval on a BEIR dataset (e.g. SciFact): dense, lexical, hybrid.

Usage:
    python benchmarks/bench_retrieval.py PATH/TO/beir-scifact [--out benchmarks/RESULTS-retrieval.md]

1. Indexes the corpus with the project's own chunking (reused when unchanged), through the same
   code `rag eval` uses.
2. Tunes the fusion on the TRAIN split only (qrels/train.tsv): normalized score fusion over a
   grid of dense weights, and reciprocal rank fusion over a few k.
3. Reports nDCG@10, Recall@100 and per-query latency on the TEST split for dense, lexical, the
   tuned hybrid, and the plain RRF baseline. The test labels are used for reporting only.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.evaluation import load_beir, run_beir
from rag.evaluation.metrics import ndcg_at_k, percentile, recall_at_k
from rag.retrieval import FUSION, Fusion, Index, fuse

ROOT = Path(__file__).resolve().parent.parent


def doc_lists(idx: Index, queries: list[str], depth: int) -> tuple[list, list]:
    """Per query: dense and lexical document rankings (best passage per document), BEIR ids."""
    dense_all, lex_all = [], []
    for i in range(0, len(queries), 64):
        for dd, ld in idx.document_lists(queries[i:i + 64], depth, "hybrid"):
            dense_all.append([(d.split("#", 1)[1], s) for d, s in dd])
            lex_all.append([(d.split("#", 1)[1], s) for d, s in ld])
    return dense_all, lex_all


def score(rankings: list[list[str]], qrels: list[dict[str, int]]) -> tuple[float, float]:
    nd = float(np.mean([ndcg_at_k(r, q, 10) for r, q in zip(rankings, qrels)]))
    rc = float(np.mean([recall_at_k(r, q, 100) for r, q in zip(rankings, qrels)]))
    return nd, rc


def fused(dense_all: list, lex_all: list, f: Fusion) -> list[list[str]]:
    return [[d for d, *_ in fuse(dl, ll, f)][:100] for dl, ll in zip(dense_all, lex_all)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--index-root", type=Path, default=ROOT / "index")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-retrieval.md")
    args = ap.parse_args()

    # Build (or reuse) the chunked index exactly as `rag eval` does, via a one-query run.
    res = run_beir(args.dataset, index_root=args.index_root, retrieval="dense", limit=1,
                   runs_root=Path("/tmp/rag-bench-runs"))
    index_dir = Path(res.settings["index_dir"])
    idx = Index(index_dir)

    depth = 300
    train, test = load_beir(args.dataset, "train"), load_beir(args.dataset, "test")
    tr_q, tr_rel = list(train.queries.values()), [train.qrels[q] for q in train.queries]
    te_q, te_rel = list(test.queries.values()), [test.qrels[q] for q in test.queries]
    tr_d, tr_l = doc_lists(idx, tr_q, depth)

    grid = [Fusion(method="nsf", dense_weight=w, depth=depth) for w in np.arange(0.2, 0.81, 0.05)]
    grid += [Fusion(method="rrf", rrf_k=k, depth=depth) for k in (10, 30, 60, 100)]
    tuned = []
    for f in grid:
        nd, rc = score(fused(tr_d, tr_l, f), tr_rel)
        tuned.append((nd, rc, f))
    tuned.sort(key=lambda t: -t[0])
    best = tuned[0][2]

    t = time.perf_counter()
    te_d, te_l = doc_lists(idx, te_q, depth)
    per_query_ms = (time.perf_counter() - t) * 1000 / len(te_q)
    rows = [
        ("dense (MiniLM, chunks, best passage)", score([[d for d, _ in r][:100] for r in te_d], te_rel)),
        ("lexical (FTS5 BM25, chunks, best passage)", score([[d for d, _ in r][:100] for r in te_l], te_rel)),
        ("hybrid: plain RRF k=60 (baseline)", score(fused(te_d, te_l, Fusion(method="rrf", rrf_k=60, depth=depth)), te_rel)),
        (f"hybrid: tuned {best.method}" + (f" dense_weight={best.dense_weight:.2f}" if best.method == "nsf" else f" k={best.rrf_k}"),
         score(fused(te_d, te_l, best), te_rel)),
        (f"hybrid: shipped default ({FUSION.method}, dense_weight={FUSION.dense_weight})",
         score(fused(te_d, te_l, replace(FUSION, depth=depth)), te_rel)),
    ]

    # Latency of the real search path per mode (one query at a time, model loaded).
    lat = {}
    for mode in ("dense", "lexical", "hybrid"):
        xs = []
        for q in te_q[:100]:
            t = time.perf_counter()
            idx.search_documents([q], k=100, retrieval=mode)
            xs.append((time.perf_counter() - t) * 1000)
        lat[mode] = (percentile(xs, 50), percentile(xs, 95))

    lines = ["# Retrieval on BEIR SciFact (test split, 300 queries)", "",
             f"Index: {index_dir} ({idx.counts['chunks']} chunks of {idx.counts['documents']} abstracts; "
             "project chunking, title with every chunk). Documents score as their best passage.",
             f"Fusion tuned on the train split ({len(tr_q)} queries); best on train: {best} "
             f"(train nDCG@10 {tuned[0][0]:.4f}).", "",
             "| setup | nDCG@10 | Recall@100 |", "|---|---:|---:|"]
    lines += [f"| {name} | {nd:.4f} | {rc:.4f} |" for name, (nd, rc) in rows]
    lines += ["", "Search latency per query (ms, `Index.search_documents`, k=100, 100 queries):", "",
              "| mode | p50 | p95 |", "|---|---:|---:|"]
    lines += [f"| {m} | {a:.1f} | {b:.1f} |" for m, (a, b) in lat.items()]
    lines += ["", "Train-split grid (nDCG@10, Recall@100):", ""]
    lines += [f"- {f.method} " + (f"w={f.dense_weight:.2f}" if f.method == "nsf" else f"k={f.rrf_k}")
              + f": {nd:.4f}, {rc:.4f}" for nd, rc, f in tuned]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
