"""Tune the extractive answerer's weights and abstention threshold on a question split.

    python benchmarks/bench_answers.py INDEX_DIR QUESTIONS.jsonl --ids-before 20251114

Retrieves once per question (as `rag.pipeline.ask` does, with the question's `as_of`), then scores
every weight setting of a small grid offline: gold-answer containment of the answer text on the
answerable questions, and for every threshold the abstention accuracy on the unanswerable ones and
the false-abstention rate on the answerable ones. Run it on the dev split only; report with
`rag eval` on the held-out split.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.evaluation import load_questions, select_questions  # noqa: E402
from rag.extractive import SCORER, compose, idf_from_counts, score_sentences, unknown_names, with_context  # noqa: E402
from rag.metrics import contains_answer  # noqa: E402
from rag.pipeline import DateFilter, _narrowed  # noqa: E402
from rag.retrieval import open_index  # noqa: E402
from rag.when import question_window  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index_dir")
    ap.add_argument("questions")
    ap.add_argument("--ids-before")
    ap.add_argument("--ids-from")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--max-false-abstention", type=float, default=0.10)
    args = ap.parse_args()
    qs = select_questions(load_questions(args.questions), args.ids_before, args.ids_from)
    idx = open_index(args.index_dir)
    idf = idf_from_counts(idx.reader.doc_freq, max(idx.counts["chunks"], 1))
    cases = []
    for q in qs:
        window = question_window(q.question, q.as_of) if q.as_of else DateFilter()
        hits = idx.search(q.question, k=args.k, dates=_narrowed(DateFilter(), window)) or \
            idx.search(q.question, k=args.k)
        unknown = bool(unknown_names(q.question, idx.reader.doc_freq))
        cases.append((q, hits, unknown))
    grid = [replace(SCORER, passage=p, words=w, type_match=t, near=n)
            for p, w, t, n in itertools.product((0.0, 0.5, 1.0, 1.5), (0.3, 0.55, 0.8), (0.0, 0.15, 0.3, 0.5),
                                                (0.0, 0.15, 0.3))]
    rows = []
    for sc in grid:
        best_scores, contained = [], []
        for q, hits, unknown in cases:
            scored = score_sentences(q.question, hits, None, idf, sc)
            best = 0.0 if unknown or not scored else scored[0].score
            text = " ".join(s.text for c in compose(scored) for s in with_context(c, hits, q.question))
            best_scores.append((q.answerable, best))
            if q.answerable and q.answers:
                contained.append(contains_answer(text, q.answers))
        cont = sum(contained) / max(len(contained), 1)
        # The threshold: the highest that keeps false abstention within the limit.
        ans = sorted(b for a, b in best_scores if a)
        una = [b for a, b in best_scores if not a]
        allowed = int(args.max_false_abstention * len(ans))
        thr = ans[allowed] if ans else 0.0  # abstain below this: `allowed` answerable ones fall under
        abst = sum(b < thr for b in una) / max(len(una), 1)
        false = sum(b < thr for b in ans) / max(len(ans), 1)
        rows.append({"passage": sc.passage, "words": sc.words, "type_match": sc.type_match, "near": sc.near,
                     "contains": round(cont, 3), "threshold": round(thr, 4), "abstention": round(abst, 3),
                     "false_abstention": round(false, 3)})
    rows.sort(key=lambda r: (-(r["contains"] + r["abstention"] * 0.5), -r["abstention"]))
    print(f"{len(qs)} questions ({sum(q.answerable for q in qs)} answerable); best 10 of {len(rows)} settings:")
    for r in rows[:10]:
        print(json.dumps(r))
    cur = next(r for r in rows if (r["passage"], r["words"], r["type_match"], r["near"]) ==
               (SCORER.passage, SCORER.words, SCORER.type_match, SCORER.near))
    print("current SCORER:", json.dumps(cur))


if __name__ == "__main__":
    main()
