"""bm25s on the same synthetic million chunks as bench_scale.py: how fast a sparse-matrix BM25
engine that scores every posting of the query terms answers the same Zipf questions.

Usage:
    python benchmarks/bench_lexical_engines.py [--chunks 1000000] [--queries 100]

Needs bm25s (the `dev` extra). Texts and questions are bench_scale.py's (same seed: the same
vocabulary, the writer's stream of texts, the search process's stream of questions). bm25s
tokenizes by splitting on words without stemming (the synthetic words need none), builds its
in-memory index, and retrieves the top 100 for each question alone; p50 / p95 over the questions.
It has no incremental update: the index is rebuilt to add or replace a document, which is why
it was not adopted (benchmarks/RESULTS-scale.md); this measures only its search speed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from bench_scale import CHUNKS_PER_DOC, Corpus, peak_rss_mb  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import bm25s

    corpus = Corpus(args.seed)
    texts: list[str] = []
    for _ in range(args.chunks // CHUNKS_PER_DOC):
        texts += corpus.texts(CHUNKS_PER_DOC)
    t = time.perf_counter()
    tokens = bm25s.tokenize(texts, stopwords=None, show_progress=False)
    del texts
    retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    retriever.index(tokens, show_progress=False)
    build_s = time.perf_counter() - t
    questions = [" ".join(x.split()[:6]) for x in Corpus(args.seed, stream=1).texts(args.queries)]
    lat = []
    for q in questions:
        t = time.perf_counter()
        qt = bm25s.tokenize([q], stopwords=None, show_progress=False, return_ids=False)
        qt = [[w for w in qt[0] if w in retriever.vocab_dict]]
        if qt[0]:
            retriever.retrieve(qt, k=100, show_progress=False, n_threads=1)
        lat.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"engine": f"bm25s {bm25s.__version__}", "chunks": args.chunks,
                      "build_s": round(build_s, 1), "p50_ms": round(float(np.percentile(lat, 50)), 1),
                      "p95_ms": round(float(np.percentile(lat, 95)), 1),
                      "peak_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
