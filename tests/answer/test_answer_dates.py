"""Dates in answering: publication dates on hits and sources, --since/--until filters, questions'
own time words relative to as_of, as_of passed on by `rag eval`, and over-long questions.

A small JSONL corpus whose records carry a `date`, indexed with the hashing embedder (fast)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag import ask
from rag.answer.dates import question_window
from rag.cli.commands import app
from rag.config import Settings
from rag.errors import InputError
from rag.evaluation import load_questions, run_questions, select_questions
from rag.index.build import build_index
from rag.retrieval import DateFilter, open_index

ARTICLES = [
    {"id": "quake-2023", "date": "2023-02-06", "title": "Earthquake strikes the coast",
     "text": "A strong earthquake struck the coastal province of Aldoria on Monday. Officials said the "
             "earthquake had a magnitude of 7.8 and damaged hundreds of buildings."},
    {"id": "quake-2025", "date": "2025-10-01", "title": "Earthquake strikes the coast again",
     "text": "A strong earthquake struck the coastal province of Belmora on Tuesday. Officials said the "
             "earthquake had a magnitude of 6.1 and damaged dozens of buildings."},
    {"id": "undated", "title": "Harbour festival returns",
     "text": "The harbour festival returned to the old town with music and boats. Organisers said the "
             "festival drew thousands of visitors over the weekend."},
]


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rag.index.embedding import HashingEmbedder

    root = tmp_path_factory.mktemp("dated")
    src = root / "news.jsonl"
    src.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    index_dir = root / "index"
    build_index([src], index_dir, embedder=HashingEmbedder())
    return index_dir


def _docs(hits) -> list[str]:
    return [h.doc_id.split("#", 1)[1] for h in hits]


def test_hits_carry_the_document_date_and_doc_dates_reads_them(dated_index: Path) -> None:
    with open_index(dated_index) as idx:
        hits = idx.search("earthquake coastal province", k=3)
        by_doc = {h.doc_id.split("#", 1)[1]: h.date for h in hits}
        assert by_doc["quake-2023"] == "2023-02-06" and by_doc["quake-2025"] == "2025-10-01"
        ids = [h.doc_id for h in hits]
        assert idx.reader.doc_dates(ids) == {h.doc_id: h.date for h in hits}
        assert idx.reader.doc_dates(["no-such-doc"]) == {"no-such-doc": None}


def test_since_and_until_keep_only_documents_published_in_range(dated_index: Path) -> None:
    with open_index(dated_index) as idx:
        assert _docs(idx.search("earthquake", k=5, dates=DateFilter(since="2024-01-01"))) == ["quake-2025"]
        assert _docs(idx.search("earthquake", k=5, dates=DateFilter(until="2024-01-01"))) == ["quake-2023"]
        # A user's range is a rule: the undated article is left out; an inferred one keeps it.
        assert "undated" not in _docs(idx.search("festival harbour", k=5, dates=DateFilter(since="2020-01-01")))
        assert "undated" in _docs(idx.search("festival harbour", k=5,
                                             dates=DateFilter(since="2020-01-01", keep_undated=True)))


@pytest.mark.parametrize("bad", ["2025-13-01", "yesterday", "2025-1-1", "2025-02-30"])
def test_a_bad_date_is_an_input_error(bad: str) -> None:
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        DateFilter(since=bad)
    with pytest.raises(InputError):
        question_window("What happened this week?", bad)


def test_since_after_until_is_an_input_error() -> None:
    with pytest.raises(InputError, match="after"):
        DateFilter(since="2025-02-01", until="2025-01-01")


def test_question_time_words_become_a_window_relative_to_as_of() -> None:
    w = question_window("Which province did an earthquake strike this week?", "2025-10-02")
    assert (w.since, w.until, w.keep_undated) == ("2025-09-25", "2025-10-02", True)
    assert question_window("Who won last year?", "2025-10-02").since == "2024-01-01"
    assert question_window("Who led the party before 2020?", "2025-10-02").until == "2019-12-31"
    assert question_window("What changed since March 2021?", "2025-10-02").since == "2021-03-01"
    assert question_window("What changed after March 2021?", "2025-10-02").since == "2021-04-01"
    # No time words: only "not after the day it was asked".
    assert question_window("Where did the earthquake strike?", "2025-10-02") == \
        DateFilter(until="2025-10-02", keep_undated=True)


def test_ask_answers_a_this_week_question_from_that_weeks_article(dated_index: Path) -> None:
    q = "Which province did a strong earthquake strike this week?"
    recent = ask(q, Settings.from_env(index_dir=dated_index, mode="extractive", as_of="2025-10-03", abstain_threshold=0.0))
    # The week is evidence, not a filter: the older page may still be listed, the answer is this week's.
    cited = {s.n: s.date for s in recent.sources}
    assert "Belmora" in recent.answer and {cited[c.passage] for c in recent.citations} == {"2025-10-01"}
    older = ask(q, Settings.from_env(index_dir=dated_index, mode="extractive", as_of="2023-02-08", abstain_threshold=0.0))
    assert "Aldoria" in older.answer
    # An explicit range wins over the question's own window.
    ranged = ask(q, Settings.from_env(index_dir=dated_index, mode="extractive", until="2023-12-31", as_of="2025-10-03", abstain_threshold=0.0))
    assert "Aldoria" in ranged.answer and all(s.date and s.date <= "2023-12-31" for s in ranged.sources)


def test_cli_search_and_ask_take_since_until_and_show_dates(dated_index: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["search", "earthquake", "--since", "2024-01-01", "--index-dir", str(dated_index),
                            "--json"])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert [h["date"] for h in hits] == ["2025-10-01"]
    r = runner.invoke(app, ["search", "earthquake", "--index-dir", str(dated_index)])
    assert "(2025-10-01)" in r.stdout and "(2023-02-06)" in r.stdout
    r = runner.invoke(app, ["search", "earthquake", "--since", "2024-99-01", "--index-dir", str(dated_index)])
    assert r.exit_code != 0 and "YYYY-MM-DD" in r.output
    r = runner.invoke(app, ["ask", "Where did the strong earthquake strike this week?", "--as-of", "2025-10-03",
                            "--mode", "extractive", "--index-dir", str(dated_index), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert all("date" in s for s in data["sources"])


def test_a_100000_character_question_is_an_input_error(dated_index: Path) -> None:
    huge = "Where did the earthquake strike? " * 3100
    assert len(huge) > 100_000
    with pytest.raises(InputError, match="characters"):
        ask(huge, Settings.from_env(index_dir=dated_index, mode="extractive"))
    r = CliRunner().invoke(app, ["search", huge, "--index-dir", str(dated_index)])
    assert r.exit_code != 0 and "characters" in r.output


def test_eval_passes_each_questions_as_of_and_selects_a_split(tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    rows = [{"id": "20251001_1", "question": "Which province?", "as_of": "2025-10-01", "answers": ["X"]},
            {"id": "20251120_1", "question": "Which town?", "as_of": "2025-11-20", "answers": ["Y"]},
            {"id": "20251201_1", "question": "Which city?", "answers": ["Z"]}]
    qfile.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    qs = load_questions(qfile)
    assert [q.as_of for q in qs] == ["2025-10-01", "2025-11-20", None]
    assert [q.id for q in select_questions(qs, ids_before="20251114")] == ["20251001_1"]
    assert [q.id for q in select_questions(qs, ids_from="20251114")] == ["20251120_1", "20251201_1"]
    with pytest.raises(InputError, match="range"):
        select_questions(qs, ids_from="2099")

    from rag.types import Answer

    seen: list[dict] = []

    def answer_fn(question: str, options: Settings, **kw) -> Answer:
        seen.append({"question": question, **dataclasses.asdict(options)})
        return Answer(question=question, answer="The articles don't say.", citations=(), sources=(),
                      abstained=True, mode="extractive", device="none")

    res = run_questions(qfile, Settings.from_env(index_dir=tmp_path / "none", as_of="2025-12-31", since="2025-01-01"),
                        answer_fn=answer_fn, out_dir=tmp_path / "run", ids_from="20251114")
    assert [(c["question"], c.get("as_of"), c.get("since")) for c in seen] == [
        ("Which town?", "2025-11-20", "2025-01-01"), ("Which city?", "2025-12-31", "2025-01-01")]
    assert res.counts["questions"] == 2 and res.settings["ids_from"] == "20251114"


def test_a_bad_as_of_in_a_question_file_names_the_line(tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"question": "Which?", "as_of": "Oct 2"}) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 1.*as_of"):
        load_questions(qfile)
