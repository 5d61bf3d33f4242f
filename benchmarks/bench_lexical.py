"""Lexical search quality and speed on a BEIR dataset: the impact-file engine `rag` uses
(rag/stores/local/lexical.py) against FTS5's own bm25() ranking, which it must reproduce.

Usage:
    python benchmarks/bench_lexical.py PATH/TO/beir-scifact [--splits train,test] [--hybrid]
        [--index-root DIR] [--out-root DIR] [--embedder hashing-256]

Both engines search the same index (the one `rag eval` builds, chunked setup; reused when
present and written by this version): "impacts" is `IndexReader.lexical`, "fts5" is the
FTS5 query it replaced (`IndexReader._lexical_fts`: every posting of every term scored).
Lexical scores do not depend on the embedder, so the fast hashing embedder is the default;
`--hybrid` adds hybrid runs, whose figures do (`--embedder all-MiniLM-L6-v2` for the product's).
Latency is `run_beir`'s: the first 100 queries searched one at a time (document ranking, k=100).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag.stores.local.reader as store  # noqa: E402
from rag.evaluation import run_beir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--index-root", type=Path, default=None)
    ap.add_argument("--out-root", type=Path, default=None)
    ap.add_argument("--splits", default="train,test")
    ap.add_argument("--embedder", default="hashing-256")
    ap.add_argument("--hybrid", action="store_true")
    args = ap.parse_args()
    out_root = args.out_root or Path(tempfile.mkdtemp(prefix="rag-lexical-"))
    index_root = args.index_root or out_root / "index"
    impacts = store.IndexReader.lexical

    def fts(self: store.IndexReader, query: str, n: int) -> list[tuple[int, float]]:
        terms = store.query_terms(query)
        return self._lexical_fts(terms, n) if terms and n > 0 else []

    results = {}
    for split in args.splits.split(","):
        for engine, fn in (("impacts", impacts), ("fts5", fts)):
            store.IndexReader.lexical = fn  # type: ignore[method-assign]
            try:
                for retrieval in ("lexical", "hybrid") if args.hybrid else ("lexical",):
                    name = f"{split}-{retrieval}-{engine}"
                    r = run_beir(args.dataset, index_root=index_root, retrieval=retrieval, split=split,
                                 embedder=args.embedder, out_dir=out_root / name, name=name,
                                 runs_root=out_root)
                    results[name] = {k: r.metrics.get(k) for k in (
                        "ndcg_at_10", "recall_at_100", "mrr_at_10", "search_ms_p50", "search_ms_p95")}
                    print(name, json.dumps(results[name]), flush=True)
            finally:
                store.IndexReader.lexical = impacts  # type: ignore[method-assign]
    print(json.dumps({"dataset": args.dataset.name, "embedder": args.embedder, "results": results}, indent=2))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
