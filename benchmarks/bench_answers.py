"""Fit the extractive answerer on a question split: the sentence ranker and the abstention threshold.

    python benchmarks/bench_answers.py INDEX_DIR QUESTIONS.jsonl --ids-before 20251114 \
        [--also OTHER_INDEX_DIR OTHER_QUESTIONS.jsonl ...]

Run it on dev splits only; report with `rag eval` on the held-out splits. `--also` adds another
index and its dev questions (e.g. the seeds index and benchmarks/data/seeds_fresh_dev.jsonl) to the
threshold's fit; the ranker is fitted on the first set alone. `--follow-ups INDEX_DIR QUESTIONS`
fits the threshold for chat follow-ups (rewritten questions score lower) on a set whose questions
carry `history` (benchmarks/data/seeds_followups_dev.jsonl), by the same rule.

Retrieves once per question with `rag.answer.pipeline.candidates` (what `rag.answer.pipeline.ask` answers from: the
question's `as_of`, `ANSWER_POOL` passages, their scored sentences), then:

1. **Ranker.** A conditional logit over the sentences of each answerable question: the chance that a
   sentence is the one holding the gold answer is softmax(w · features) over that question's
   sentences, with the features `words` (IDF-weighted share of the question's words), `words *
   vote` (other documents repeat the sentence's answer candidate) and `words * lead` (the sentence
   is in its article's first passage), i.e. rank = words * (w1 + w2 vote + w3 lead): agreement and
   the lead count only for a sentence that holds the question's words. Fitted by gradient descent
   with an L2 penalty; reported in-sample and leave-one-question-out (the honest figure), beside
   ordering by `score` alone. The shipped weights are w2/w1 and w3/w1.
2. **Abstention threshold** on the answerability (`rag.answer.extractive.answerability`): the highest
   threshold whose false abstention on the split's answerable questions stays within
   `--max-false-abstention` (default 0.05: half the issue's 10% limit, as a margin for corpora and
   questions the split does not hold), placed halfway between the two answerability values it
   falls between.
3. **The score's weights, checked** (`score`: passage, words, type, near; set in the first wave):
   how well the answerability they give separates answerable from unanswerable questions over all
   the sets (AUC), beside weights chosen from a grid in sample and leave-one-question-out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.evaluation import load_questions, select_questions  # noqa: E402
from rag.answer.extractive import SCORER, can_answer  # noqa: E402
from rag.evaluation.metrics import contains_answer  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.answer.pipeline import Candidates, Conversation, DateFilter, ask, candidates, time_window  # noqa: E402
from rag.answer.questions import answer_type  # noqa: E402
from rag.retrieval import open_index  # noqa: E402

FEATURES = ("words", "words*vote", "words*lead")


def fit_logit(groups: list[tuple[np.ndarray, np.ndarray]], l2: float, steps: int = 3000, lr: float = 0.05
              ) -> np.ndarray:
    """Weights maximising sum over groups of log(sum softmax over the positive rows) - l2 |w|^2."""
    w = np.zeros(groups[0][0].shape[1])
    for _ in range(steps):
        grad = 2 * l2 * w
        for x, y in groups:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            pos = p * y
            q = pos / pos.sum()
            grad -= (q - p) @ x
        w -= lr * grad
    return w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("index_dir")
    ap.add_argument("questions")
    ap.add_argument("--ids-before")
    ap.add_argument("--ids-from")
    ap.add_argument("--also", nargs=2, action="append", default=[], metavar=("INDEX_DIR", "QUESTIONS"),
                    help="another index and its dev questions, pooled into the threshold's fit")
    ap.add_argument("--follow-ups", nargs=2, metavar=("INDEX_DIR", "QUESTIONS"),
                    help="an index and chat follow-ups (questions with `history`): fit the follow-up threshold")
    ap.add_argument("--k", type=int, default=5, help="passages shown (the pipeline's k)")
    ap.add_argument("--l2", type=float, default=0.1)
    ap.add_argument("--max-false-abstention", type=float, default=0.05)
    args = ap.parse_args()
    groups, by_score, answerable_best, unanswerable_best = [], 0, [], []
    score_features: list[tuple[bool, np.ndarray]] = []  # per question: the sentences that may answer
    sets = [(args.index_dir, select_questions(load_questions(args.questions), args.ids_before, args.ids_from))]
    sets += [(index_dir, load_questions(questions)) for index_dir, questions in args.also]
    for n_set, (index_dir, qs) in enumerate(sets):
        idx = open_index(index_dir)
        for q in qs:
            found = _candidates(idx, q.question, q.as_of, args.k)
            scored = found.scored
            best = 0.0 if found.unknown else found.answerability
            (answerable_best if q.answerable else unanswerable_best).append(best)
            score_features.append((q.answerable, _score_features(found, q.question)))
            if n_set or not (q.answerable and q.answers and scored):
                continue
            y = np.array([contains_answer(s.text, q.answers) for s in scored], float)
            x = np.array([[s.words, s.words * s.vote, s.words * s.lead] for s in scored], float)
            by_score += bool(y[int(np.argmax([s.score for s in scored]))])
            groups.append((x, y))
    usable = [(x, y) for x, y in groups if y.any()]
    w = fit_logit(usable, args.l2)
    top1 = sum(bool(y[int(np.argmax(x @ w))]) for x, y in groups)
    loo = 0
    for i, (x, y) in enumerate(groups):
        rest = [g for j, g in enumerate(groups) if j != i and g[1].any()]
        loo += bool(y[int(np.argmax(x @ fit_logit(rest, args.l2)))])
    n = len(groups)
    print(f"{len(sets[0][1])} questions, {n} answerable with sentences; a gold-bearing sentence exists for {len(usable)}")
    print(f"first sentence holds the gold answer: by score {by_score}/{n}, ranker in-sample {top1}/{n}, "
          f"ranker leave-one-out {loo}/{n}")
    print("ranker weights:", json.dumps({f: round(float(v), 2) for f, v in zip(FEATURES, w)}),
          f"-> rank_vote {w[1] / w[0]:.2f}, rank_lead {w[2] / w[0]:.2f}")
    print(f"shipped: rank_vote {SCORER.rank_vote}, rank_lead {SCORER.rank_lead}")

    thr, abst, false = fit_threshold(answerable_best, unanswerable_best, args.max_false_abstention)
    print(f"abstention threshold {thr:.4f} (shipped {SCORER.abstain}): abstention {abst:.3f} on "
          f"{len(unanswerable_best)} unanswerable, false abstention {false:.3f} on {len(answerable_best)} answerable")
    check_score_weights(score_features)
    if args.follow_ups:
        ans_f, una_f = follow_up_answerability(*args.follow_ups, args.k)
        thr, abst, false = fit_threshold(ans_f, una_f, args.max_false_abstention)
        print(f"follow-up threshold {thr:.4f} (shipped {SCORER.follow_up_abstain}): abstention {abst:.3f} on "
              f"{len(una_f)} unanswerable, false abstention {false:.3f} on {len(ans_f)} answerable")


def _score_features(found: Candidates, question: str) -> np.ndarray:
    """(passage, words, type_match, near) of each sentence that may answer (one holding the asked
    kind for a date, amount, country or state question); one row of zeros when none may, or when
    the question names something no article mentions (answerability 0)."""
    kind = answer_type(question)
    rows = [[s.passage, s.words, s.type_match, s.near] for s in found.scored
            if not found.unknown and can_answer(s, kind)]
    return np.array(rows or [[0.0, 0.0, 0.0, 0.0]], float)


def _auc(pos: list[float], neg: list[float]) -> float:
    """The chance that an answerable question scores above an unanswerable one (ties count half)."""
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])) if pos and neg else float("nan")


def check_score_weights(rows: list[tuple[bool, np.ndarray]]) -> None:
    """Print the AUC of the shipped score weights, and of weights from a grid (the passage weight
    fixed at 1: only ratios matter) chosen in sample and leave-one-question-out."""
    def aucw(w: np.ndarray, part: list[tuple[bool, np.ndarray]]) -> float:
        return _auc([float((f @ w).max()) for a, f in part if a], [float((f @ w).max()) for a, f in part if not a])

    shipped = np.array([SCORER.passage, SCORER.words, SCORER.type_match, SCORER.near])
    grid = [np.array([1.0, w, t, n]) for w in (0.2, 0.4, 0.55, 0.8, 1.2, 1.6)
            for t in (0.0, 0.15, 0.3, 0.5) for n in (0.0, 0.15, 0.3, 0.5)]
    best = max(grid, key=lambda w: aucw(w, rows))
    loo = []
    for i, (a, f) in enumerate(rows):
        w = max(grid, key=lambda w: aucw(w, rows[:i] + rows[i + 1:]))
        loo.append((a, float((f @ w).max())))
    print(f"score weights (passage, words, type, near) over {len(rows)} questions: shipped "
          f"{shipped.tolist()} AUC {aucw(shipped, rows):.3f}; grid in sample {best.tolist()} AUC "
          f"{aucw(best, rows):.3f}; grid leave-one-question-out AUC "
          f"{_auc([s for a, s in loo if a], [s for a, s in loo if not a]):.3f}")


def fit_threshold(answerable: list[float], unanswerable: list[float], max_false: float) -> tuple[float, float, float]:
    """The highest threshold whose false abstention stays within `max_false`, halfway between the
    two answerability values it falls between; with the abstention and false abstention it gives."""
    ans, una = sorted(answerable), sorted(unanswerable)
    allowed = int(max_false * len(ans))
    upper = ans[allowed]  # abstaining below this leaves `allowed` answerable ones abstained
    lower = max([a for a in ans[:allowed]] + [u for u in una if u < upper], default=upper)
    thr = (lower + upper) / 2
    return thr, sum(b < thr for b in una) / max(len(una), 1), sum(b < thr for b in ans) / len(ans)


def _candidates(idx, question: str, as_of: str | None, k: int) -> Candidates:  # type: ignore[no-untyped-def]
    """The answer pool and its scored sentences, exactly as `rag.answer.pipeline.ask` gets them."""
    return candidates(idx, question, k=k, retrieval="hybrid", asked=DateFilter(), window=time_window(question, as_of))


def follow_up_answerability(index_dir: str, questions: str, k: int) -> tuple[list[float], list[float]]:
    """Each follow-up asked after its `history` in one conversation, as `rag chat` does (the
    rule-based rewrite, extractive answers): the answerability of its rewritten question, 0 when
    it names something the index never mentions."""
    idx = open_index(index_dir)
    answerable, unanswerable = [], []
    for q in load_questions(questions):
        options = Settings.from_env(mode="extractive", k=k, as_of=q.as_of)
        conv = Conversation.after(q.history, lambda h, **kw: ask(h, options, index=idx, **kw))
        found = _candidates(idx, conv.standalone(q.question), q.as_of, k)
        (answerable if q.answerable else unanswerable).append(0.0 if found.unknown else found.answerability)
    return answerable, unanswerable


if __name__ == "__main__":
    main()
