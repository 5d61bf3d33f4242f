"""Show that the date evidence is inert on an undated corpus (a BEIR dataset such as SciFact).

    python benchmarks/bench_date_inert.py PATH/beir-scifact --work DIR [--embedder hashing|NAME] [--ask 50]

Indexes the dataset's corpus (no record has a date) into DIR, then for every judged query of the
split compares the passages `Index.search` returns without a date prior and with the strongest
priors `ask` can build (a worded window at weight 1, the plain prior at weight 1): chunk ids and
scores must be identical. The first `--ask` queries are also answered by `ask` (extractive) with
and without an as-of date and a "this week" variant's time words: identical answers and sources.
`rag eval PATH/beir-scifact` (nDCG@10, Recall@100) ranks documents with `Index.search_documents`,
which the date prior does not touch at all. The hashing embedder (default) makes this a minute's
work; the property does not depend on the embedder (no document has a date to score).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.answer.dates import DateEvidence, time_window  # noqa: E402
from rag.answer.pipeline import ask  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluation.datasets import load_beir  # noqa: E402
from rag.index.build import build_index  # noqa: E402
from rag.retrieval import open_index  # noqa: E402

STRONG = DateEvidence(worded_weight=1.0, worded_half_life=7, plain_weight=1.0, plain_half_life=7,
                      worded_rank=2.0, plain_rank=2.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--work", required=True)
    ap.add_argument("--embedder", default="hashing")
    ap.add_argument("--split", default="test")
    ap.add_argument("--ask", type=int, default=50)
    ap.add_argument("--as-of", default="2025-11-21")
    args = ap.parse_args()
    data = load_beir(Path(args.folder), args.split)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus.jsonl"
    with open(corpus, "w", encoding="utf-8") as fh:
        for did, (title, text) in data.corpus.items():
            if title.strip() or text.strip():
                fh.write(json.dumps({"id": did, "title": title, "text": text or title}, ensure_ascii=False) + "\n")
    if args.embedder == "hashing":
        from rag.index.embedding import HashingEmbedder

        embedder = HashingEmbedder()
    else:
        embedder = args.embedder
    build_index([corpus], work / "index", embedder=embedder)
    same = total = 0
    with open_index(work / "index", embedder=embedder) as idx:
        dated = sum(1 for d in idx.reader.doc_dates(d for d, *_ in idx.reader.documents()).values() if d)
        for q in data.queries.values():
            base = [(h.chunk_id, round(h.score, 9)) for h in idx.search(q, k=10)]
            ok = True
            for question in (q, f"{q.rstrip('?. ')} this week?"):
                prior = time_window(question, args.as_of).prior(STRONG)
                got = [(h.chunk_id, round(h.score, 9)) for h in idx.search(q, k=10, prior=prior)]
                ok = ok and got == base
            same += ok
            total += 1
        answers_same = 0
        queries = list(data.queries.values())[:args.ask]
        for q in queries:
            a = ask(q, Settings.from_env(mode="extractive"), index=idx)
            b = ask(q, Settings.from_env(mode="extractive", as_of=args.as_of), index=idx)
            answers_same += (a.answer, a.abstained, [s.chunk_id for s in a.sources]) == \
                (b.answer, b.abstained, [s.chunk_id for s in b.sources])
    print(f"{data.name}: {len(data.corpus)} documents, {dated} dated")
    print(f"search with the strongest date priors identical to without: {same}/{total} queries")
    print(f"ask with as_of {args.as_of} identical to without: {answers_same}/{len(queries)} queries")


if __name__ == "__main__":
    main()
