"""Scores for retrieval, answers, citations and latency: pure functions, no I/O.

Retrieval metrics work on a ranked list of document ids (best first) and the judged relevant
documents, and follow the definitions used by BEIR (pytrec_eval / trec_eval) so that figures
are comparable with published tables:

- a document is relevant when its judged grade is > 0;
- a document id repeated in the ranking counts once, at its first (best) rank;
- nDCG@k: gain = grade, discount = log2(rank + 1) with ranks from 1, the ideal DCG comes from
  all judged relevant documents sorted by grade and truncated at k (not only the retrieved ones);
- a query without any relevant document scores 0 on every metric (trec_eval does the same;
  whether such a query is averaged in is the caller's choice).

Answer metrics follow the SQuAD evaluation script (normalize, containment, token F1), with
deliberate differences written down where they happen: Unicode punctuation (curly quotes) is
removed as well as ASCII, dashes separate words ("Putin-mania" = "Putin mania"), decimal points
are kept, [n] citation markers are dropped, and containment matches whole words, not characters.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence

from rag.answer.citations import answer_sentences, markers, strip_markers

Relevant = Collection[str] | Mapping[str, int]

# -- retrieval --------------------------------------------------------------------------------


def _relevant_set(relevant: Relevant) -> set[str]:
    """Ids with grade > 0 (a plain collection means every member is relevant)."""
    if isinstance(relevant, Mapping):
        return {d for d, g in relevant.items() if g > 0}
    return set(relevant)


def _first_k_unique(ranked: Iterable[str], k: int) -> list[str]:
    """The first k distinct ids, in order: a repeated id keeps only its best rank."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    out: list[str] = []
    seen: set[str] = set()
    for d in ranked:
        if d in seen:
            continue
        seen.add(d)
        out.append(d)
        if len(out) == k:
            break
    return out


def hit_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """1.0 when at least one relevant document is in the top k, else 0.0."""
    rel = _relevant_set(relevant)
    return 1.0 if any(d in rel for d in _first_k_unique(ranked, k)) else 0.0


def recall_at_k(ranked: Sequence[str], relevant: Relevant, k: int) -> float:
    """Share of the relevant documents found in the top k (0.0 when none is relevant)."""
    rel = _relevant_set(relevant)
    if not rel:
        return 0.0
    return sum(1 for d in _first_k_unique(ranked, k) if d in rel) / len(rel)


def mrr_at_k(ranked: Sequence[str], relevant: Relevant, k: int = 10) -> float:
    """1 / rank of the first relevant document within the top k, else 0.0."""
    rel = _relevant_set(relevant)
    for rank, d in enumerate(_first_k_unique(ranked, k), start=1):
        if d in rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevance: Relevant, k: int = 10) -> float:
    """nDCG@k with linear gain (the grade itself) and log2(rank + 1) discount, as trec_eval's
    `ndcg_cut`; the ideal ranking is built from every judged relevant document."""
    grades = ({d: g for d, g in relevance.items() if g > 0} if isinstance(relevance, Mapping)
              else {d: 1 for d in relevance})
    if not grades:
        return 0.0
    dcg = sum(grades.get(d, 0) / math.log2(rank + 1)
              for rank, d in enumerate(_first_k_unique(ranked, k), start=1))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1))
    return dcg / idcg


# -- answers ----------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCT = frozenset(string.punctuation)
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
_KEEP_POINT = "\ue000"  # a private-use character: not punctuation, never in real text
_SYMBOLS = re.compile(r"[$€£¥₫/]")


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower case, no punctuation, no articles a/an/the, single spaces.

    Beyond SQuAD: [n] markers are dropped, every Unicode punctuation character goes too, so
    "Putin’s" and "Putin's" normalize alike (news text is full of curly quotes), dashes
    become spaces, so a hyphenated answer matches its spelled-apart form, and a decimal point
    between digits is kept ("3.6" is not "36"; thousands commas still go: "3,600" = "3600").
    """
    text = strip_markers(text).lower()
    text = "".join(" " if ch in "-–—" else ch for ch in text)  # "Putin-mania" ≈ "Putin mania"
    # A decimal point survives: SQuAD would make "3.6 billion" and "36 billion" the same answer.
    text = _DECIMAL_POINT.sub(_KEEP_POINT, text)
    text = "".join(ch for ch in text
                   if ch not in _ASCII_PUNCT and not unicodedata.category(ch).startswith("P"))
    text = text.replace(_KEEP_POINT, ".")
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def contains_answer(prediction: str, golds: Iterable[str]) -> bool:
    """Whether some normalized gold answer occurs in the normalized prediction.

    Matched on whole words, not characters: the gold "no" must not be found in "north", nor
    "support" in "supported" (another word is another answer; list its forms in the gold answers
    when they are all right). A currency sign does not glue a number to its unit ("3.6 billion" in
    "US$3.6 billion"). Golds that normalize to nothing (e.g. "the") are ignored.
    """
    pred = normalize_answer(_SYMBOLS.sub(" ", prediction))
    for g in golds:
        ng = normalize_answer(_SYMBOLS.sub(" ", g))
        if ng and re.search(rf"(?:^| ){re.escape(ng)}(?= |$)", pred):
            return True
    return False


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)  # SQuAD v2: both empty is a match
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """SQuAD token F1 between the normalized prediction and the best-matching gold (0.0 without
    golds)."""
    pred = normalize_answer(prediction).split()
    scores = [_f1(pred, normalize_answer(g).split()) for g in golds]
    return max(scores) if scores else 0.0


# -- citations --------------------------------------------------------------------------------

# A sentence ends at . ! ? (then closing quotes/brackets and any [n] markers that follow it)
# before whitespace, or at a line break. Deliberately simple: "U.S. officials" splits in two,
# which only matters when one half carries a marker and the other does not.
def citation_precision(cited_doc_ids: Iterable[str], gold_sources: Collection[str]) -> float | None:
    """Share of the distinct cited documents that are gold sources; None when nothing is cited."""
    cited = set(cited_doc_ids)
    if not cited:
        return None
    gold = set(gold_sources)
    return len(cited & gold) / len(cited)


def citation_coverage(answer_text: str) -> float | None:
    """Share of the answer's sentences that carry at least one [n] marker; None for no sentence."""
    sentences = answer_sentences(answer_text)
    if not sentences:
        return None
    return sum(1 for s in sentences if markers(s)) / len(sentences)


# -- latency ----------------------------------------------------------------------------------


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation, as numpy's default; None if empty."""
    if not 0 <= p <= 100:
        raise ValueError(f"p must be within 0..100, not {p}")
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    pos = (len(xs) - 1) * p / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def mean(values: Iterable[float]) -> float | None:
    xs = [float(v) for v in values]
    return sum(xs) / len(xs) if xs else None


def latency_summary(values: Iterable[float]) -> dict[str, float | None]:
    """n, mean, p50 and p95 of a list of durations."""
    xs = [float(v) for v in values]
    return {"n": len(xs), "mean": mean(xs), "p50": percentile(xs, 50), "p95": percentile(xs, 95)}
