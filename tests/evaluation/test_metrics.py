"""rag.evaluation.metrics against hand-computed values (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.answer.citations import answer_sentences, strip_markers
from rag.evaluation.metrics import (citation_coverage, citation_precision, contains_answer, hit_at_k, latency_summary,
                                    mrr_at_k, ndcg_at_k, normalize_answer, percentile, recall_at_k, token_f1)

RANKED = ["d3", "d1", "d5", "d2"]
RELEVANT = {"d1": 1, "d2": 1, "d4": 1}


# -- nDCG -------------------------------------------------------------------------------------


def test_ndcg_several_relevant_binary() -> None:
    # Relevant d1 at rank 2 and d2 at rank 4; d4 is never retrieved but still counts in the ideal.
    # DCG  = 1/log2(3) + 1/log2(5)            = 0.630930 + 0.430677 = 1.061606
    # IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4) = 1 + 0.630930 + 0.5   = 2.130930
    # nDCG = 1.061606 / 2.130930 = 0.498189
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    assert ndcg_at_k(RANKED, RELEVANT, 10) == pytest.approx(expected, abs=1e-9)
    assert ndcg_at_k(RANKED, RELEVANT, 10) == pytest.approx(0.4981892575, abs=1e-9)
    # A plain set means grade 1 for each member.
    assert ndcg_at_k(RANKED, {"d1", "d2", "d4"}, 10) == pytest.approx(expected, abs=1e-9)


def test_ndcg_graded_relevance_uses_linear_gain() -> None:
    # Grades: a=1, b=2, c=0 (judged not relevant), d=3 (not retrieved).
    # DCG  = 1/log2(2) + 2/log2(3) + 0        = 1 + 1.261860 = 2.261860
    # ideal order of grades 3, 2, 1: IDCG = 3 + 2/log2(3) + 1/log2(4) = 3 + 1.261860 + 0.5 = 4.761860
    # nDCG = 2.261860 / 4.761860 = 0.474995
    # (trec_eval's linear gain; 2^rel - 1 would give 2.892789 / 9.392789 = 0.307980)
    rel = {"a": 1, "b": 2, "c": 0, "d": 3}
    expected = (1 + 2 / math.log2(3)) / (3 + 2 / math.log2(3) + 0.5)
    assert ndcg_at_k(["a", "b", "c"], rel, 10) == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(0.474995, abs=1e-6)


def test_ndcg_duplicates_count_once_at_first_rank() -> None:
    # [d1, d1, d2]: the repeat of d1 is dropped, so d2 sits at rank 2: 1/log2(3) / 1 = 0.630930.
    assert ndcg_at_k(["d1", "d1", "d2"], {"d2": 1}, 10) == pytest.approx(1 / math.log2(3), abs=1e-9)
    # A repeated relevant document earns its gain only once: [d2, d2] = 1/1 / 1 = 1.0, not more.
    assert ndcg_at_k(["d2", "d2"], {"d2": 1}, 10) == pytest.approx(1.0, abs=1e-9)
    # k counts distinct documents: with k=2, d2 (third entry, second distinct) is still in.
    assert ndcg_at_k(["d1", "d1", "d2"], {"d2": 1}, 2) == pytest.approx(1 / math.log2(3), abs=1e-9)


def test_ndcg_truncation_and_zero_cases() -> None:
    # 12 relevant documents, the first 10 retrieved all relevant: the ideal is also cut at 10.
    rel = {f"r{i}": 1 for i in range(12)}
    assert ndcg_at_k([f"r{i}" for i in range(10)], rel, 10) == pytest.approx(1.0, abs=1e-9)
    # Relevant document only at rank 11: outside the cut.
    assert ndcg_at_k([f"x{i}" for i in range(10)] + ["r0"], rel, 10) == 0.0
    assert ndcg_at_k(["x", "y"], RELEVANT, 10) == 0.0
    assert ndcg_at_k([], RELEVANT, 10) == 0.0
    assert ndcg_at_k(["d1"], {}, 10) == 0.0  # nothing relevant: 0, as trec_eval
    assert ndcg_at_k(["d1"], {"d1": 0}, 10) == 0.0


# -- recall, hit, MRR -------------------------------------------------------------------------


def test_recall_hit_mrr() -> None:
    assert recall_at_k(RANKED, RELEVANT, 1) == 0.0
    assert recall_at_k(RANKED, RELEVANT, 2) == pytest.approx(1 / 3)  # d1 of {d1, d2, d4}
    assert recall_at_k(RANKED, RELEVANT, 4) == pytest.approx(2 / 3)  # d1, d2
    assert recall_at_k(RANKED, RELEVANT, 100) == pytest.approx(2 / 3)
    assert hit_at_k(RANKED, RELEVANT, 1) == 0.0
    assert hit_at_k(RANKED, RELEVANT, 2) == 1.0
    assert mrr_at_k(RANKED, RELEVANT, 10) == pytest.approx(0.5)  # first relevant at rank 2
    assert mrr_at_k(RANKED, RELEVANT, 1) == 0.0
    assert mrr_at_k(["x", "x", "d2"], RELEVANT, 10) == pytest.approx(0.5)  # duplicate x counts once
    assert recall_at_k(["d1", "d1", "d1"], {"d1": 1, "d2": 1}, 3) == pytest.approx(0.5)
    # Grade 0 is "judged not relevant".
    assert recall_at_k(["d2"], {"d1": 1, "d2": 0}, 10) == 0.0
    assert recall_at_k(["d1"], {}, 10) == 0.0
    with pytest.raises(ValueError):
        hit_at_k(RANKED, RELEVANT, 0)


# -- answers ----------------------------------------------------------------------------------


def test_normalize_answer_squad_style() -> None:
    assert normalize_answer("The  Cat's hat!") == "cats hat"
    assert normalize_answer("An apple, a day; THE end.") == "apple day end"
    assert normalize_answer("“Putin’s” visit") == "putins visit"  # curly quotes go too
    assert normalize_answer("Putin-mania") == "putin mania"
    assert normalize_answer("in March 2023 [1], [2, 3]") == "in march 2023"
    assert normalize_answer("$3.6 billion, 3,600 tons.") == "3.6 billion 3600 tons"
    assert normalize_answer("theatre another") == "theatre another"  # articles only as words
    assert strip_markers("Hanoi [1]. Moscow [2,3].") == "Hanoi. Moscow."


def test_contains_answer() -> None:
    assert contains_answer("Putin flew in from North Korea [1].", ["north korea"])
    assert contains_answer("It was worth $3.6 billion.", ["3.6 billion", "x"])
    assert not contains_answer("It was worth 36 billion.", ["3.6 billion"])
    # Whole words: the gold "no" is not in "North Korea", but is in "No, it is not".
    assert not contains_answer("North Korea", ["no"])
    assert contains_answer("No, it is not a member.", ["no"])
    assert not contains_answer("anything", ["the", ""])  # golds that normalize to nothing
    assert not contains_answer("anything", [])


def test_token_f1() -> None:
    # "the north korea border" -> [north, korea, border]; gold [north, korea]:
    # precision 2/3, recall 2/2, F1 = 2 * (2/3) * 1 / (2/3 + 1) = 0.8
    assert token_f1("the North Korea border", ["North Korea"]) == pytest.approx(0.8, abs=1e-9)
    # Best gold wins: "korea" alone: P 1/3, R 1 -> 0.5; "north korea border" exact -> 1.0
    assert token_f1("the North Korea border", ["Korea", "north korea border"]) == pytest.approx(1.0)
    assert token_f1("the North Korea border", ["Korea"]) == pytest.approx(0.5)
    # Repeated tokens count by multiplicity: pred [a1, a1], gold [a1] -> P 1/2, R 1 -> 2/3
    assert token_f1("a1 a1", ["a1"]) == pytest.approx(2 / 3)
    assert token_f1("Hanoi", ["Moscow"]) == 0.0
    assert token_f1("Hanoi", []) == 0.0


# -- citations --------------------------------------------------------------------------------


def test_citation_precision() -> None:
    assert citation_precision(["a.txt", "a.txt", "b.txt"], {"a.txt"}) == pytest.approx(0.5)  # distinct docs
    assert citation_precision(["a.txt"], {"a.txt", "c.txt"}) == 1.0
    assert citation_precision([], {"a.txt"}) is None
    assert citation_precision(["a.txt"], set()) == 0.0


def test_citation_coverage_and_sentences() -> None:
    text = "Putin visited North Korea [1]. He then went to Vietnam.[2] It was big. Trade grew [1, 3]"
    assert answer_sentences(text) == ["Putin visited North Korea [1].", "He then went to Vietnam.[2]",
                                      "It was big.", "Trade grew [1, 3]"]
    assert citation_coverage(text) == pytest.approx(3 / 4)
    assert citation_coverage("Hanoi hosted him [1]. Trade fell. Arms sales dropped [2]") == pytest.approx(2 / 3)
    assert citation_coverage("Trade was 3.6 billion [1].") == 1.0  # a decimal point is no sentence end
    assert citation_coverage("First line [1]\nSecond line") == pytest.approx(0.5)
    assert citation_coverage("") is None
    assert citation_coverage("[1].") is None


# -- latency ----------------------------------------------------------------------------------


def test_percentile_matches_numpy_linear() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    # p95: position 4 * 0.95 = 3.8 -> 40 + 0.8 * (50 - 40) = 48
    assert percentile(values, 95) == pytest.approx(48.0)
    assert percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)
    rng = np.random.default_rng(0)
    xs = rng.exponential(size=37).tolist()
    for p in (0, 5, 50, 90, 95, 99, 100):
        assert percentile(xs, p) == pytest.approx(float(np.percentile(xs, p)), abs=1e-12)
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile(values, 101)
    assert latency_summary(values) == {"n": 5, "mean": 30.0, "p50": 30.0, "p95": pytest.approx(48.0)}


def test_containment_survives_currency_signs_but_not_other_words_or_word_fragments():
    from rag.evaluation.metrics import contains_answer

    assert contains_answer("Bilateral trade stood at US$3.6 billion in 2023.", ["3.6 billion"])
    # Whole words only: an inflected form is another word (list it as a gold answer if it is right).
    assert not contains_answer("it would likely be supported by the public", ["support"])
    assert contains_answer("it would likely be supported by the public", ["support", "supported"])
    assert not contains_answer("Vietnam, Russia and the U.S. are not members of the ICC.", ["not a member"])
    assert contains_answer("**Pope Leo XIV** called for action [1].", ["Pope Leo XIV"])
    assert not contains_answer("He flew in from North Korea.", ["no"])
    assert not contains_answer("US$36 billion", ["3.6 billion"])
