"""rag.evaluation: loading question and BEIR files, BEIR runs on a tiny corpus with the hashing
embedder, question runs with a stub answerer (numbers checked by hand), comparing and gating."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from rag.config import Settings
from rag.errors import InputError
from rag.evaluation import (Question, check_thresholds, compare_runs, format_comparison, format_metrics, load_beir,
                            load_questions, read_summary, run_beir, run_questions, score_answer)
from rag.index.embedding import HashingEmbedder
from rag.types import Answer, Citation, Source

PNG = b"\x89PNG\r\n\x1a\n"


def _write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline=newline) as fh:
        fh.write(text)
    return path


# -- load_questions ---------------------------------------------------------------------------


def test_load_questions_defaults(tmp_path: Path) -> None:
    p = _write(tmp_path / "q.jsonl", "\n".join([
        json.dumps({"id": "a", "question": " Who? ", "answers": ["X"], "sources": ["a.txt"]}),
        "",
        json.dumps({"question": "Where?", "answers": "Hanoi"}),
        json.dumps({"id": 7, "question": "When?", "answers": [], "answerable": False}),
    ]) + "\n")
    qs = load_questions(p)
    assert qs == [
        Question(id="a", question="Who?", answers=("X",), sources=("a.txt",), answerable=True),
        Question(id="3", question="Where?", answers=("Hanoi",), sources=(), answerable=True),  # id = line
        Question(id="7", question="When?", answers=(), sources=(), answerable=False),
    ]


@pytest.mark.parametrize("bad, message", [
    ('{"question": "ok"}\n{"question": "broken"\n', "line 2: not valid JSON"),
    ('{"question": "ok"}\n{"id": "x"}\n', "line 2: 'question' is missing"),
    ('{"id": "x", "question": "a"}\n{"id": "x", "question": "b"}\n', "line 2: id 'x' was already used on line 1"),
    ('{"question": "a", "answerable": "no"}\n', "line 1: 'answerable' must be true or false"),
    ('{"question": "a", "answers": [1.5]}\n', "line 1: 'answers' must be a list"),
    ('[1, 2]\n', "line 1: expected a JSON object"),
    ("\n\n", "holds no questions"),
])
def test_load_questions_bad_line(tmp_path: Path, bad: str, message: str) -> None:
    p = _write(tmp_path / "q.jsonl", bad)
    with pytest.raises(InputError, match=message):
        load_questions(p)


def test_load_questions_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no question file"):
        load_questions(tmp_path / "nope.jsonl")


# -- BEIR -------------------------------------------------------------------------------------

CORPUS = [
    {"_id": "d1", "title": "Volcano", "text": "The volcano erupted and lava flowed down the mountain slopes."},
    {"_id": "d2", "title": "Penguins", "text": "Emperor penguins breed on the Antarctic sea ice in winter."},
    {"_id": "d3", "title": "Antarctica", "text": "Antarctic ice sheets hold most of the fresh water on Earth."},
    {"_id": "d4", "title": "Coffee", "text": "Coffee beans are roasted before they are ground and brewed."},
    {"_id": "d5", "title": "Tides", "text": "The moon pulls the oceans and causes the tides every day."},
    # The same article under another id: the chunked index stores it once.
    {"_id": "d6", "title": "Tides", "text": "The moon pulls the oceans and causes the tides every day."},
    {"_id": "d7", "title": "", "text": "Bicycles have two wheels, pedals and a chain driving the rear wheel."},
]
QUERIES = [
    {"_id": "q1", "text": "volcano lava eruption"},
    {"_id": "q2", "text": "penguins antarctic ice"},
    {"_id": "q3", "text": "how are coffee beans roasted"},  # only judged in the train split
    # The id equals a document id: BEIR drops d4 from q4's ranking (ignore_identical_ids).
    {"_id": "d4", "text": "coffee beans roasted ground brewed"},
    {"_id": "q5", "text": "moon oceans tides"},
]
QRELS_TEST = [("q1", "d1", 1), ("q2", "d2", 2), ("q2", "d3", 1), ("q2", "d7", 0), ("d4", "d1", 1),
              ("q5", "d6", 1)]


def _tiny_beir(root: Path) -> Path:
    folder = root / "tinybeir"
    _write(folder / "corpus.jsonl", "".join(json.dumps(r) + "\n" for r in CORPUS))
    _write(folder / "queries.jsonl", "".join(json.dumps(r) + "\n" for r in QUERIES))
    # Published qrels files have a header row and CRLF line ends.
    _write(folder / "qrels" / "test.tsv",
           "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS_TEST), newline="\r\n")
    _write(folder / "qrels" / "train.tsv", "query-id\tcorpus-id\tscore\nq3\td4\t1\n", newline="\r\n")
    return folder


def test_load_beir(tmp_path: Path) -> None:
    data = load_beir(_tiny_beir(tmp_path))
    assert data.name == "tinybeir"
    assert list(data.queries) == ["q1", "q2", "d4", "q5"]  # q3 is not judged in test
    assert data.qrels["q2"] == {"d2": 2, "d3": 1, "d7": 0}  # no '\r' left in ids or scores
    assert data.corpus["d7"] == ("", CORPUS[6]["text"])
    assert list(load_beir(tmp_path / "tinybeir", split="train").queries) == ["q3"]
    with pytest.raises(InputError, match="splits here: test, train"):
        load_beir(tmp_path / "tinybeir", split="dev")
    _write(tmp_path / "tinybeir" / "qrels" / "bad.tsv", "query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(InputError, match="line 2: expected 3"):
        load_beir(tmp_path / "tinybeir", split="bad")


def _rows(run_dir: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (Path(run_dir) / "questions.jsonl").read_text().splitlines()]


def _check_run_folder(run_dir: str) -> dict[str, Any]:
    d = Path(run_dir)
    for f in ("questions.jsonl", "summary.json", "report.md", "metrics.png", "latency.png"):
        assert (d / f).is_file(), f
    assert (d / "metrics.png").read_bytes()[:8] == PNG
    assert (d / "latency.png").read_bytes()[:8] == PNG
    return read_summary(d)


@pytest.mark.parametrize("chunked, retrieval", [(False, "lexical"), (True, "hybrid")])
def test_run_beir_end_to_end(tmp_path: Path, chunked: bool, retrieval: str) -> None:
    folder = _tiny_beir(tmp_path)
    emb = HashingEmbedder(dim=64)
    res = run_beir(folder, index_root=tmp_path / "index", retrieval=retrieval, k=10, chunked=chunked,
                   embedder=emb, out_dir=tmp_path / "run", latency_sample=3)
    setup = "chunked" if chunked else "passage"
    assert Path(res.settings["index_dir"]).name == f"beir-tinybeir-{setup}"
    assert res.settings["embedder"] == "hashing-64" and res.settings["index_written"] is True
    assert res.counts["queries"] == 4 and res.counts["latency_sample"] == 3
    summary = _check_run_folder(res.out_dir)
    assert summary["metrics"] == res.metrics
    rows = {r["id"]: r for r in _rows(res.out_dir)}
    assert set(rows) == {"q1", "q2", "d4", "q5"}

    # Each query's words are in its relevant documents only.
    assert rows["q1"]["scores"]["ndcg_at_10"] == pytest.approx(1.0)
    assert rows["q1"]["retrieved"][0][0] == "d1"
    # d4 is the query's own id, so it never appears in its ranking (it would be the best match).
    assert all(d != "d4" for d, _ in rows["d4"]["retrieved"])
    # d6 repeats d5 word for word; in the chunked index it is stored once and put back.
    q5_top2 = {d for d, _ in rows["q5"]["retrieved"][:2]}
    assert q5_top2 == {"d5", "d6"}
    assert rows["q5"]["scores"]["recall_at_10"] == 1.0
    # q2: d2 (grade 2) and d3 (grade 1) should take the first two places in either order.
    ranked_q2 = [d for d, _ in rows["q2"]["retrieved"]]
    assert set(ranked_q2[:2]) == {"d2", "d3"}
    best = (2 + 1 / math.log2(3)) / (2 + 1 / math.log2(3))
    worst = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert rows["q2"]["scores"]["ndcg_at_10"] in (pytest.approx(best), pytest.approx(worst))
    # Run metrics are the means over the judged queries.
    for key in ("ndcg_at_10", "recall_at_10", "mrr_at_10", "hit_at_10"):
        assert res.metrics[key] == pytest.approx(sum(r["scores"][key] for r in rows.values()) / 4, abs=1e-6)
    assert res.metrics["search_ms_p50"] is not None and res.metrics["search_ms_p95"] >= res.metrics["search_ms_p50"]
    assert "ndcg_at_10" in (Path(res.out_dir) / "report.md").read_text()

    # A second run reuses the index.
    again = run_beir(folder, index_root=tmp_path / "index", retrieval=retrieval, k=10, chunked=chunked,
                     embedder=emb, out_dir=tmp_path / "run2", latency_sample=0)
    assert again.settings["index_written"] is False
    assert again.metrics["ndcg_at_10"] == res.metrics["ndcg_at_10"]
    assert again.metrics["search_ms_p50"] is None  # no latency sample asked for

    with pytest.raises(InputError, match="at least 10"):
        run_beir(folder, index_root=tmp_path / "index", k=5, embedder=emb, out_dir=tmp_path / "run3")


def test_run_beir_limit_and_default_folder(tmp_path: Path) -> None:
    folder = _tiny_beir(tmp_path)
    res = run_beir(folder, index_root=tmp_path / "index", retrieval="dense", chunked=False,
                   embedder=HashingEmbedder(dim=64), limit=2, runs_root=tmp_path / "runs", latency_sample=1)
    assert res.counts["queries"] == 2
    assert Path(res.out_dir).parent == tmp_path / "runs"
    assert Path(res.out_dir).name.endswith("-beir-tinybeir-passage-dense")
    _check_run_folder(res.out_dir)


# -- question runs with a stub answerer -------------------------------------------------------


def _src(n: int, doc: str, also_in: tuple[str, ...] = ()) -> Source:
    return Source(n=n, doc_id=doc, chunk_id=f"{doc}#0", title=doc.upper(), text=f"text of {doc}", start=0,
                  end=10, score=1.0 / n, also_in=also_in)


def _cit(n: int, doc: str, supported: bool = True) -> Citation:
    return Citation(n=n, passage=n, doc_id=doc, chunk_id=f"{doc}#0", title=doc.upper(), quote="q", quote_start=0,
                    quote_end=1, sentence="s", support=0.9 if supported else 0.1, supported=supported)


# What the stub answers per question, and the scores worked out by hand (k = 2).
STUB: dict[str, Answer] = {
    # sources a, b; gold a: hit 1, recall 1, MRR 1, nDCG 1. Answer tokens (markers dropped):
    # putin visited north korea he then flew on = 8; gold north korea = 2 -> P 2/8, R 1, F1 0.4.
    # Cites a (gold) and b (not): precision 1/2. Both sentences carry a marker: coverage 1.
    "Which country did Putin visit first?": Answer(
        question="", answer="Putin visited North Korea [1]. He then flew on [2].",
        citations=(_cit(1, "a.txt"), _cit(2, "b.txt")), sources=(_src(1, "a.txt"), _src(2, "b.txt")),
        abstained=False, mode="llm", device="cpu", prompt="PROMPT-1", model="tiny",
        timings={"retrieval_ms": 10, "generation_ms": 100, "total_ms": 120, "tokens_per_s": 20}),
    # sources b, c; gold c, d: hit 1, recall 1/2, MRR 1/2,
    # nDCG = (1/log2 3) / (1 + 1/log2 3) = 0.386853. "it was 2001": P 1/3, R 1 -> F1 0.5.
    # Cites c (gold): precision 1, unsupported 1; one invalid marker [3]. Coverage 1.
    "When was the partnership signed?": Answer(
        question="", answer="It was 2001 [2].", citations=(_cit(2, "c.txt", supported=False),),
        sources=(_src(1, "b.txt"), _src(2, "c.txt")), abstained=False, mode="llm", device="cpu",
        prompt="PROMPT-2", model="tiny", invalid_citations=(3,), unsupported_sentences=("It was 2001 [2].",),
        timings={"retrieval_ms": 30, "generation_ms": 300, "total_ms": 340, "tokens_per_s": 10}),
    # Answerable but abstains: retrieval still scored: the passage of e also appears in a, so the
    # ranking is [e, a]: hit 1, recall 1, MRR 1/2, nDCG 1/log2(3) = 0.630930. The answer scores
    # 0 and is a false abstention; no citation precision or coverage.
    "Who commented?": Answer(
        question="", answer="The articles don't say.", citations=(), sources=(_src(1, "e.txt", ("a.txt",)),),
        abstained=True, mode="extractive", device="none", timings={"retrieval_ms": 20, "total_ms": 25}),
    # Unanswerable, abstains: correct.
    "What did the contract cost?": Answer(
        question="", answer="The articles don't say.", citations=(), sources=(), abstained=True,
        mode="extractive", device="none", timings={"retrieval_ms": 40, "total_ms": 45}),
    # Unanswerable, answers anyway: wrong. Coverage 1/2 (second sentence has no marker).
    "Which city hosts BRICS?": Answer(
        question="", answer="Moscow [1]. Probably.", citations=(_cit(1, "b.txt"),), sources=(_src(1, "b.txt"),),
        abstained=False, mode="extractive", device="none", timings={"retrieval_ms": 50, "total_ms": 60}),
}
QUESTIONS = [
    {"id": "q1", "question": "Which country did Putin visit first?", "answers": ["North Korea"], "sources": ["a.txt"]},
    {"id": "q2", "question": "When was the partnership signed?", "answers": ["2001"], "sources": ["c.txt", "d.txt"]},
    {"id": "q3", "question": "Who commented?", "answers": ["Vuving"], "sources": ["a.txt"]},
    {"id": "q4", "question": "What did the contract cost?", "answers": [], "sources": [], "answerable": False},
    {"id": "q5", "question": "Which city hosts BRICS?", "answerable": False},
]


class Stub:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, question: str, options: Settings, **kw: Any) -> Answer:
        self.calls.append({"question": question, **dataclasses.asdict(options), **kw})
        return STUB[question]


def _questions_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "dev.jsonl", "".join(json.dumps(q) + "\n" for q in QUESTIONS))


def test_run_questions_with_stub(tmp_path: Path) -> None:
    stub = Stub()
    res = run_questions(_questions_file(tmp_path), Settings.from_env(index_dir=tmp_path / "no-index", mode="llm",
                                                                     model="tiny", k=2, retrieval="dense"),
                        out_dir=tmp_path / "run", answer_fn=stub)
    assert [c["question"] for c in stub.calls] == [q["question"] for q in QUESTIONS]
    assert stub.calls[0]["index"] is None and stub.calls[0]["k"] == 2 and stub.calls[0]["mode"] == "llm"
    assert stub.calls[0]["retrieval"] == "dense" and stub.calls[0]["model"] == "tiny"

    m = res.metrics
    ndcg_q2 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    expected = {
        "hit_at_2": 1.0,
        "recall_at_2": (1 + 0.5 + 1) / 3,
        "mrr_at_10": (1 + 0.5 + 0.5) / 3,
        "ndcg_at_10": (1 + ndcg_q2 + 1 / math.log2(3)) / 3,
        "contains_answer": 2 / 3,
        "token_f1": (0.4 + 0.5 + 0) / 3,
        "citation_precision": (0.5 + 1) / 2,
        "citation_coverage": (1 + 1 + 0.5) / 3,
        "supported_citation_rate": 3 / 4,
        "abstention_accuracy": 1 / 2,
        "false_abstention_rate": 1 / 3,
        "abstention_precision": 1 / 2,  # two abstentions, one on an unanswerable question
        # retrieval 10 20 30 40 50: p95 at position 3.8 -> 40 + 0.8 * 10
        "retrieval_ms_p50": 30.0, "retrieval_ms_p95": 48.0,
        "generation_ms_p50": 200.0, "generation_ms_p95": 290.0,
        # total 25 45 60 120 340: p95 -> 120 + 0.8 * 220
        "total_ms_p50": 60.0, "total_ms_p95": 296.0,
        "tokens_per_s_mean": 15.0,
    }
    for key, v in expected.items():
        assert m[key] == pytest.approx(v, abs=1e-6), key
    assert m["invalid_citations"] == 1 and m["unsupported_citations"] == 1
    assert m["ttft_ms_p50"] is None  # the stub reports no time to first token
    assert res.counts == {"questions": 5, "answerable": 3, "unanswerable": 2, "with_gold_sources": 3,
                          "with_gold_answers": 3, "abstained": 2, "llm_answers": 2,
                          "answers_with_citations": 3, "citations": 4, "answers_without_citations": 0,
                          "fallback_answers": 0, "answer_sentences": 5}
    # Sentences with a supported citation (the stub's citations all name the sentence "s"): one
    # in q1, none in q2 (unsupported), one in q5, of 2 + 1 + 2 answer sentences.
    assert m["verified_sentence_rate"] == pytest.approx(2 / 5)
    assert res.settings["k"] == 2 and res.settings["mode"] == "llm" and res.settings["index_manifest"] is None
    assert res.settings["models"] == ["tiny"] and res.settings["answerer"].endswith("Stub")

    summary = _check_run_folder(res.out_dir)
    assert summary["kind"] == "questions" and summary["metrics"] == res.metrics
    rows = _rows(res.out_dir)
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4", "q5"]
    r1 = rows[0]
    assert r1["prompt"] == "PROMPT-1" and r1["gold_answers"] == ["North Korea"]
    assert r1["retrieved"][0] == {"n": 1, "doc_id": "a.txt", "chunk_id": "a.txt#0", "score": 1.0,
                                  "also_in": [], "title": "A.TXT", "text": "text of a.txt", "date": None}
    assert r1["scores"]["token_f1"] == pytest.approx(0.4) and r1["scores"]["citation_precision"] == 0.5
    assert r1["citations"][1]["doc_id"] == "b.txt" and r1["timings"]["retrieval_ms"] == 10
    assert "wall_ms" in r1["timings"]
    assert rows[2]["scores"]["false_abstention"] is True and rows[2]["scores"]["contains_answer"] == 0.0
    assert rows[2]["scores"]["recall_at_2"] == 1.0  # a.txt reached through also_in
    assert rows[3]["scores"]["abstention_correct"] is True and rows[3]["scores"]["recall_at_2"] is None
    assert rows[4]["scores"]["abstention_correct"] is False and rows[4]["scores"]["citation_precision"] is None
    report = (Path(res.out_dir) / "report.md").read_text()
    assert "| contains_answer | 0.6667 |" in report and "| retrieval | dense |" in report
    assert "contains_answer" in format_metrics(res)

    # Gates: names as in the summary, or short names.
    assert check_thresholds(res, {"recall": 0.8, "ndcg": 0.65, "abstention": 0.5}) == []
    failures = check_thresholds(summary, {"contains": 0.9, "citation_precision": 0.5},
                                maximums={"total_ms_p95": 100})
    assert failures == ["contains_answer = 0.6667 is below the minimum 0.9",
                        "total_ms_p95 = 296.0000 is above the maximum 100"]
    assert check_thresholds(summary, {"ttft_ms_p50": 1}) == ["ttft_ms_p50 was not measured in this run (gate ≥ 1)"]
    with pytest.raises(InputError, match="no metric 'bogus'"):
        check_thresholds(summary, {"bogus": 1.0})


def test_score_answer_counts_every_document_of_the_k_passages() -> None:
    # Two passages (k = 2), each also printed verbatim in another article: the answerer saw four
    # documents' words. Ranked documents: x, a, y, b; gold a, b -> recall 1, MRR 1/2,
    # nDCG = (1/log2 3 + 1/log2 5) / (1 + 1/log2 3) = 0.650362.
    ans = Answer(question="", answer="Hanoi [1].", citations=(_cit(1, "x.txt"),),
                 sources=(_src(1, "x.txt", ("a.txt",)), _src(2, "y.txt", ("b.txt",))),
                 abstained=False, mode="extractive", device="none")
    q = Question(id="1", question="Where?", answers=("Hanoi",), sources=("a.txt", "b.txt"))
    s = score_answer(q, ans, 2)
    assert s["recall_at_2"] == 1.0 and s["hit_at_2"] == 1.0 and s["mrr_at_10"] == 0.5
    assert s["ndcg_at_10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    # The cited passage is in gold a.txt too, so the citation counts as a gold source.
    assert s["citation_precision"] == 1.0 and s["contains_answer"] == 1.0 and s["token_f1"] == 1.0
    assert s["abstention_correct"] is None and s["false_abstention"] is False


def test_run_questions_limit_and_default_folder(tmp_path: Path) -> None:
    res = run_questions(_questions_file(tmp_path), Settings.from_env(index_dir=tmp_path / "no-index", k=2), limit=2,
                        answer_fn=Stub(), runs_root=tmp_path / "runs")
    assert res.counts["questions"] == 2
    assert Path(res.out_dir).parent == tmp_path / "runs"
    assert Path(res.out_dir).name.endswith("-dev-hybrid-auto")
    # Without any unanswerable question the abstention accuracy is not measured; a gate on it fails.
    assert res.metrics["abstention_accuracy"] is None
    assert check_thresholds(res, {"abstention": 0.5}) != []


def test_run_questions_warns_about_unknown_gold_sources(tmp_path: Path) -> None:
    from rag.index.build import build_index

    _write(tmp_path / "docs" / "a.txt", "Putin in Hanoi\n\nPutin arrived in Hanoi from North Korea on Wednesday.\n")
    build_index([tmp_path / "docs"], tmp_path / "index", embedder=HashingEmbedder(dim=64))
    q = _write(tmp_path / "q.jsonl", json.dumps({"question": "Which country did Putin visit first?",
                                                 "answers": ["North Korea"], "sources": ["a.txt", "zzz.txt"]}) + "\n")
    stub = Stub()
    res = run_questions(q, Settings.from_env(index_dir=tmp_path / "index", k=2), answer_fn=stub, out_dir=tmp_path / "run")
    assert stub.calls[0]["index"] is not None
    assert res.settings["index_manifest"]["embedder"]["name"] == "hashing-64"
    assert len(res.warnings) == 1 and "zzz.txt" in res.warnings[0] and "a.txt" not in res.warnings[0]


def test_run_questions_through_the_real_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default answerer (rag.answer.pipeline.ask) on a tiny hashing index; no LLM can be found, so
    "auto" answers extractively and says so."""
    from rag.index.build import build_index
    from tests.no_llm import no_llm_here

    monkeypatch.setenv("RAG_MODELS_DIR", str(tmp_path / "no-models"))
    monkeypatch.chdir(no_llm_here(tmp_path / "cwd"))
    _write(tmp_path / "docs" / "visit.txt", "Putin visits Vietnam\n\nPutin arrived in Hanoi on Thursday after "
           "a visit to North Korea. Vietnam gave him a red-carpet welcome at the airport.\n")
    _write(tmp_path / "docs" / "coffee.txt", "Coffee harvest\n\nVietnam is the second largest coffee exporter in "
           "the world. Farmers in the Central Highlands grow robusta beans.\n")
    build_index([tmp_path / "docs"], tmp_path / "index", embedder=HashingEmbedder(dim=64))
    q = _write(tmp_path / "q.jsonl", "".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "question": "Where did Putin go after visiting North Korea?", "answers": ["Hanoi", "Vietnam"],
         "sources": ["visit.txt"]},
        {"id": "b", "question": "Which city will host the next BRICS summit?", "answerable": False},
    ]))
    res = run_questions(q, Settings.from_env(index_dir=tmp_path / "index", mode="auto", k=2), out_dir=tmp_path / "run")
    assert res.settings["answerer"] == "rag.answer.pipeline.ask" and res.settings["mode_used"] == "extractive"
    assert any("extractively" in w for w in res.warnings)
    assert res.settings["temperature"] == 0.0 and res.settings["seed"] == 0
    rows = _rows(res.out_dir)
    assert [r["id"] for r in rows] == ["a", "b"] and rows[0]["mode"] == "extractive"
    assert rows[0]["retrieved"] and rows[0]["retrieved"][0]["doc_id"] in ("visit.txt", "coffee.txt")
    assert rows[0]["scores"]["hit_at_2"] == 1.0  # both documents are among 2 passages of a 2-document index
    assert "retrieval_ms" in rows[0]["timings"] and res.metrics["retrieval_ms_p50"] is not None
    _check_run_folder(res.out_dir)


# -- compare ----------------------------------------------------------------------------------


def test_compare_runs(tmp_path: Path) -> None:
    for name, metrics in (("a", {"x": 0.5, "y": None, "z": 1}), ("b", {"x": 0.75, "y": None, "w": 2})):
        _write(tmp_path / name / "summary.json", json.dumps({"kind": "questions", "metrics": metrics}))
    rows = compare_runs(tmp_path / "a", tmp_path / "b" / "summary.json")
    assert rows == [("x", 0.5, 0.75, 0.25), ("y", None, None, None), ("z", 1, None, None), ("w", None, 2, None)]
    table = format_comparison(rows, ("base", "new"))
    assert table.splitlines()[0].split() == ["metric", "base", "new", "delta"]
    assert "+0.2500" in table.splitlines()[1]
    with pytest.raises(InputError, match="no summary.json"):
        compare_runs(tmp_path / "a", tmp_path / "missing")


def test_a_follow_up_question_is_asked_after_its_history_in_one_conversation(tmp_path) -> None:
    import json as _json

    from rag.evaluation import run_questions
    from rag.types import Answer

    path = tmp_path / "q.jsonl"
    path.write_text(_json.dumps({"id": "c1", "history": ["Who visited Hanoi?"], "question": "When did he arrive?",
                                 "answers": ["Thursday"], "answerable": True}) + "\n", encoding="utf-8")
    asked = []

    def answer_fn(question, options, *, conversation=None, **kw):
        asked.append((question, len(conversation.turns) if conversation is not None else None))
        return Answer(question=question, answer="He arrived on Thursday.", citations=(), sources=(), abstained=False,
                      mode="extractive", device="none")

    result = run_questions(path, Settings.from_env(index_dir=tmp_path / "none"), answer_fn=answer_fn, out_dir=tmp_path / "run")
    assert asked == [("Who visited Hanoi?", 0), ("When did he arrive?", 1)]
    assert result.metrics["contains_answer"] == 1.0


def test_times_print_with_one_decimal_whatever_their_size():
    from rag.evaluation.report import _fmt

    assert (_fmt(8.4, "retrieval_ms_p50"), _fmt(12.1, "retrieval_ms_p95")) == ("8.4", "12.1")
    assert _fmt(0.83333, "contains_answer") == "0.8333" and _fmt(7.25, "tokens_per_s_mean") == "7.2"
