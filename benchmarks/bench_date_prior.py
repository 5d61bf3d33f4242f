"""Fit the date evidence (`rag.answer.dates.DateEvidence`) on a dev split of a dated question set.

    python benchmarks/bench_date_prior.py INDEX_DIR QUESTIONS.jsonl --ids-before 20251114

Run it on dev splits only; report with `rag eval` on the held-out split. For each point of a small
grid (weight, half-life and sentence-rank weight when the question's wording names a time; the same
when only the day it is asked is known) it answers every question of the split extractively,
exactly as `rag eval` does (`ask` with the question's `as_of`), and prints gold page in the top k,
gold-answer containment, false abstention and answers from a page of the question's week. The grid
is searched in two steps (the worded prior first, with no plain prior; then the plain prior at the
chosen worded point), each a command line (benchmarks/RESULTS-dates.md). The chosen point
maximises containment + hit@k - 2 x false abstention (a false "the articles don't say" costs more than a wrong answer: the user asked a
question the articles answer); among points equal on it, the one whose answers come from a page of
the question's week most often (what the issue asks of "this week" questions), then the smaller
weights (the closest to no prior).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rag.answer.dates as dates  # noqa: E402
from rag.answer.pipeline import ask  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluation import load_questions, select_questions  # noqa: E402
from rag.evaluation.runner import answer_date, score_answer  # noqa: E402
from rag.evaluation.runner import in_week as in_week_of  # noqa: E402
from rag.retrieval import open_index  # noqa: E402


def measure(idx, questions, k: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    hit = contains = false_abst = in_week = 0.0
    n = 0
    for q in questions:
        if not q.answerable:
            continue
        a = ask(q.question, Settings.from_env(mode="extractive", k=k, as_of=q.as_of), index=idx)
        s = score_answer(q, a, k)
        hit += float(s[f"hit_at_{k}"] or 0)
        contains += float(s["contains_answer"] or 0)
        false_abst += float(bool(s["false_abstention"]))
        in_week += float(bool(in_week_of(answer_date(a), q.as_of)))
        n += 1
    return {"hit": hit / n, "contains": contains / n, "false_abstention": false_abst / n, "in_week": in_week / n,
            "n": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index_dir")
    ap.add_argument("questions")
    ap.add_argument("--ids-before")
    ap.add_argument("--ids-from")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--worded-weights", default="0,0.15,0.3,0.6,1")
    ap.add_argument("--worded-half-lives", default="7,30")
    ap.add_argument("--worded-ranks", default="0,0.5,1,2")
    ap.add_argument("--plain-weights", default="0")
    ap.add_argument("--plain-half-lives", default="180")
    ap.add_argument("--plain-ranks", default="0")
    args = ap.parse_args()
    qs = select_questions(load_questions(args.questions), ids_before=args.ids_before, ids_from=args.ids_from)
    floats = lambda text: [float(x) for x in text.split(",")]  # noqa: E731
    grid = list(itertools.product(floats(args.worded_weights), floats(args.worded_half_lives),
                                  floats(args.worded_ranks), floats(args.plain_weights),
                                  floats(args.plain_half_lives), floats(args.plain_ranks)))
    results = []
    seen: dict[tuple, dict[str, float]] = {}
    with open_index(args.index_dir) as idx:
        for ww, wh, wr, pw, ph, pr in grid:
            # Zero weights make the half-life irrelevant: measure that point once.
            key = (ww, wh if ww or wr else 0, wr, pw, ph if pw or pr else 0, pr)
            if key not in seen:
                dates.DATE_EVIDENCE = dates.DateEvidence(worded_weight=ww, worded_half_life=wh, worded_rank=wr,
                                                         plain_weight=pw, plain_half_life=ph, plain_rank=pr)
                seen[key] = measure(idx, qs, args.k)
                r = seen[key]
                print(f"worded {ww:4.2f}/{wh:5.0f}d rank {wr:4.2f}  plain {pw:4.2f}/{ph:5.0f}d rank {pr:4.2f}  "
                      f"hit@{args.k} {r['hit']:.3f}  contains {r['contains']:.3f}  "
                      f"false-abst {r['false_abstention']:.3f}  in-week {r['in_week']:.3f}", flush=True)
            results.append((key, seen[key]))
    objective = lambda r: r["contains"] + r["hit"] - 2 * r["false_abstention"]  # noqa: E731
    best = max(results, key=lambda kr: (round(objective(kr[1]), 9), round(kr[1]["in_week"], 9),
                                        -kr[0][0] - kr[0][2] - kr[0][3] - kr[0][5]))
    (ww, wh, wr, pw, ph, pr), r = best
    print(f"\nchosen: worded_weight={ww} worded_half_life={wh} worded_rank={wr} plain_weight={pw} "
          f"plain_half_life={ph} plain_rank={pr}: "
          f"hit@{args.k} {r['hit']:.3f} contains {r['contains']:.3f} false abstention {r['false_abstention']:.3f} "
          f"(n={r['n']})")


if __name__ == "__main__":
    main()
