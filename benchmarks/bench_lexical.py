"""What pruning common query terms costs in quality: a BEIR dataset scored with the lexical
pruning of `IndexReader.lexical` forced on (as it runs on a large index) and off.

Usage:
    python benchmarks/bench_lexical.py PATH/TO/beir-scifact [--index-root DIR] [--out-root DIR]
        [--embedder hashing-256] [--hybrid] [--shares 0.05,0.1,0.2]

The pruning only switches on at LEXICAL_MIN_CHUNKS chunks, far above SciFact's size, so this
script lowers that threshold to 0 for the "on" runs: every query then loses the terms found in
more than LEXICAL_COMMON_SHARE of the chunks, exactly as it would at a million chunks. The
index is the one `rag eval` builds (chunked setup); it is reused when present. Lexical scores do
not depend on the embedder, so the fast hashing embedder is the default; `--hybrid` adds hybrid
runs, whose figures do (use `--embedder all-MiniLM-L6-v2` for the product's).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rag.store as store  # noqa: E402
from rag.evaluation import run_beir  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--index-root", type=Path, default=ROOT / "index")
    ap.add_argument("--out-root", type=Path, default=None)
    ap.add_argument("--split", default="test")
    ap.add_argument("--embedder", default="hashing-256")
    ap.add_argument("--hybrid", action="store_true")
    ap.add_argument("--shares", default="0.05", help="pruning shares to try, comma-separated")
    args = ap.parse_args()
    out_root = args.out_root or Path(tempfile.mkdtemp(prefix="rag-lexical-"))
    results = {}
    default_min = store.LEXICAL_MIN_CHUNKS
    default_share = store.LEXICAL_COMMON_SHARE
    for share in [None] + [float(x) for x in args.shares.split(",")]:
        store.LEXICAL_MIN_CHUNKS = default_min if share is None else 0
        store.LEXICAL_COMMON_SHARE = default_share if share is None else share
        for retrieval in ("lexical", "hybrid") if args.hybrid else ("lexical",):
            name = f"{retrieval}-" + ("full" if share is None else f"pruned-{share:g}")
            r = run_beir(args.dataset, index_root=args.index_root, retrieval=retrieval, split=args.split,
                         embedder=args.embedder,
                         out_dir=out_root / name, name=name, runs_root=out_root, latency_sample=0)
            results[name] = {k: r.metrics.get(k) for k in ("ndcg_at_10", "recall_at_100", "mrr_at_10")}
            print(name, json.dumps(results[name]), flush=True)
    store.LEXICAL_MIN_CHUNKS, store.LEXICAL_COMMON_SHARE = default_min, default_share
    print(json.dumps({"dataset": args.dataset.name, "split": args.split,
                      "embedder": args.embedder, "results": results}, indent=2))


if __name__ == "__main__":
    main()
