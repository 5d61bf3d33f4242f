"""Dates as ranking evidence (issue 23): the question's time prefers, never removes; answers say
when; relative dates inside articles; answer dates in `rag eval`.

A small JSONL corpus with dates, indexed with the hashing embedder (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import ask
from rag.answer.dates import (QuestionTime, asks_only_time, question_window, relative_dates, time_window,
                              without_time_words)
from rag.config import Settings
from rag.evaluation import run_questions
from rag.evaluation.runner import answer_date, in_week
from rag.index.build import build_index
from rag.retrieval import DateFilter, DatePrior, open_index
from rag.types import Answer, Citation, Source

ARTICLES = [
    # The one page that answers the quake question was published weeks before it is asked.
    {"id": "quake", "date": "2025-10-01", "title": "Earthquake strikes the coast",
     "text": "A strong earthquake struck the coastal province of Belmora on Tuesday. Officials said the "
             "earthquake had a magnitude of 6.1 and damaged dozens of buildings."},
    {"id": "quake-old", "date": "2019-03-04", "title": "Earthquake strikes the coast",
     "text": "A strong earthquake struck the coastal province of Aldoria on Sunday. Officials said the "
             "earthquake had a magnitude of 5.2 and damaged a few buildings."},
    # The question's week holds only pages about something else.
    {"id": "festival", "date": "2025-11-19", "title": "Harbour festival returns",
     "text": "The harbour festival returned to the old town with music and boats. Organisers said the "
             "festival drew thousands of visitors over the weekend."},
    {"id": "bridge", "date": "2025-11-18", "title": "Bridge reopens",
     "text": "The old stone bridge over the river reopened to traffic on Monday after two years of repairs, "
             "the city council said."},
    {"id": "undated", "title": "Ferry timetable changes",
     "text": "The ferry company changed its winter timetable. Passengers said the new crossings were slower."},
    {"id": "bad-date", "date": "sometime in spring", "title": "Lighthouse repainted",
     "text": "The lighthouse on the north cape was repainted red and white by volunteers."},
]


@pytest.fixture(scope="module")
def news(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rag.index.embedding import HashingEmbedder

    root = tmp_path_factory.mktemp("evidence")
    src = root / "news.jsonl"
    src.write_text("".join(json.dumps(a) + "\n" for a in ARTICLES), encoding="utf-8")
    index_dir = root / "index"
    build_index([src], index_dir, embedder=HashingEmbedder())
    return index_dir


def _doc(hit) -> str:  # type: ignore[no-untyped-def]
    return hit.doc_id.split("#", 1)[1]


def _opts(index: Path, **kw) -> Settings:  # type: ignore[no-untyped-def]
    return Settings.from_env(index_dir=index, mode="extractive", **kw)


# -- the prior ---------------------------------------------------------------------------------------

def test_the_prior_rewards_closeness_to_the_window_and_nothing_without_a_date() -> None:
    p = DatePrior(since="2025-11-14", until="2025-11-21", weight=0.4, half_life_days=7)
    assert p.bonus("2025-11-18") == pytest.approx(0.4)
    assert p.bonus("2025-11-07") == pytest.approx(0.2)  # one half-life before the window
    assert p.bonus("2025-11-28") == pytest.approx(0.2)  # one after it
    assert p.bonus(None) == 0.0 and p.bonus("not a date") == 0.0 and p.bonus("2025-13-45") == 0.0
    assert not DatePrior(since="2025-11-14", weight=0.0).active
    assert DatePrior(since="2025-11-14", weight=0.0).bonus("2025-11-18") == 0.0


def test_the_prior_reorders_and_keeps_older_pages_reachable(news: Path) -> None:
    with open_index(news) as idx:
        plain = [_doc(h) for h in idx.search("strong earthquake coastal province", k=6)]
        recent = DatePrior(since="2019-03-01", until="2019-03-10", weight=1.0, half_life_days=7)
        preferred = [_doc(h) for h in idx.search("strong earthquake coastal province", k=6, prior=recent)]
    assert set(plain) == set(preferred)  # nothing removed
    assert preferred.index("quake-old") < preferred.index("quake")


def test_the_prior_is_inert_on_an_undated_corpus(tmp_path: Path, hashing) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "n.jsonl"
    src.write_text("".join(json.dumps({k: v for k, v in a.items() if k != "date"}) + "\n" for a in ARTICLES),
                   encoding="utf-8")
    build_index([src], tmp_path / "index", embedder=hashing)
    prior = time_window("Which province did an earthquake strike this week?", "2025-11-21").prior()
    assert prior.active
    with open_index(tmp_path / "index") as idx:
        for q in ("strong earthquake coastal province", "festival harbour", "bridge reopened"):
            without = idx.search(q, k=5)
            with_prior = idx.search(q, k=5, prior=prior)
            assert [(h.chunk_id, round(h.score, 9)) for h in without] == \
                [(h.chunk_id, round(h.score, 9)) for h in with_prior]
        for q in ("Which province did a strong earthquake strike this week?", "What happened this week?"):
            a = ask(q, _opts(tmp_path / "index", abstain_threshold=0.0))
            b = ask(q, _opts(tmp_path / "index", abstain_threshold=0.0, as_of="2025-11-21"))
            assert (a.answer, [s.chunk_id for s in a.sources]) == (b.answer, [s.chunk_id for s in b.sources])
        # Nothing dated is "this week's news": the time-only question abstains as before.
        assert ask("What happened this week?", _opts(tmp_path / "index", as_of="2025-11-21")).abstained


# -- the question's time -------------------------------------------------------------------------------

def test_time_words_of_questions() -> None:
    assert question_window("Who won in 2024?", "2025-11-21") == \
        DateFilter(since="2024-01-01", until="2024-12-31", keep_undated=True)
    assert question_window("What opened in March 2025?", "2025-11-21").until == "2025-03-31"
    assert question_window("What was recently announced?", "2025-11-21").since == "2025-10-21"
    assert question_window("Which bridge reopened on Monday?", "2025-11-21").since == "2025-11-14"
    assert not time_window("Which bridge reopened?", "2025-11-21").worded
    assert without_time_words("Which NFL team fired its coach this week?") == "Which NFL team fired its coach?"
    assert without_time_words("Who won in 2024?") == "Who won in 2024?"
    assert asks_only_time("What happened this week?") and not asks_only_time("Which bridge reopened this week?")
    assert not asks_only_time("What happened?")


def test_as_of_is_the_only_rule(news: Path) -> None:
    when = time_window("Which province did a strong earthquake strike this week?", "2025-10-02")
    assert isinstance(when, QuestionTime) and when.bounded
    assert when.ceiling(DateFilter()) == DateFilter(until="2025-10-02", keep_undated=True)
    assert when.ceiling(DateFilter(since="2025-01-01")) == DateFilter(since="2025-01-01", until="2025-10-02")
    assert not time_window("Which bridge reopened?", None).bounded  # no as-of, no time words: no ceiling
    a = ask("Which bridge reopened to traffic?", _opts(news, as_of="2025-10-02", abstain_threshold=0.0))
    assert all(s.date is None or s.date <= "2025-10-02" for s in a.sources)


def test_a_this_week_question_answered_only_by_an_older_page_is_answered_and_says_so(news: Path) -> None:
    """The issue's false abstention: the week's pages are about something else, the answer is in a
    page published weeks earlier. A hard window abstained; evidence answers, naming the date."""
    q = "Which province did a strong earthquake strike this week?"
    a = ask(q, _opts(news, as_of="2025-11-21"))
    assert not a.abstained and "Belmora" in a.answer
    assert a.notice and "from an article of 2025-10-01" in a.notice
    # Asked in the week of that page: the same answer, and no such notice.
    b = ask(q, _opts(news, as_of="2025-10-03"))
    assert "Belmora" in b.answer and not (b.notice and "article of" in b.notice)


def test_what_happened_this_week_cites_a_page_of_that_week(news: Path) -> None:
    a = ask("What happened this week?", _opts(news, as_of="2025-11-21"))
    assert not a.abstained
    cited = {s.n: s for s in a.sources}
    assert a.citations and all("2025-11-14" <= (cited[c.passage].date or "") <= "2025-11-21" for c in a.citations)


# -- relative dates inside articles ----------------------------------------------------------------------

def test_relative_dates_mean_calendar_dates() -> None:
    text = ("The minister resigned on Tuesday, officials said yesterday. Super Tuesday came last week. "
            "On Friday, Nov. 21 it rained. Talks resume next Monday; sales fell last month and last year.")
    got = {r.words: r.means for r in relative_dates(text, "2025-11-19")}  # a Wednesday
    assert got == {"on Tuesday": "Tuesday, 2025-11-18", "yesterday": "2025-11-18",
                   "last week": "the week of 2025-11-10", "next Monday": "Monday, 2025-11-24",
                   "last month": "October 2025", "last year": "2024"}
    assert relative_dates("It opened on Wednesday.", "2025-11-19")[0].means == "Wednesday, 2025-11-19"
    assert relative_dates("It opened last Wednesday.", "2025-11-19")[0].means == "Wednesday, 2025-11-12"
    assert relative_dates(text, None) == [] and relative_dates(text, "spring") == []


def test_a_when_question_gives_the_date_the_quoted_words_mean(news: Path) -> None:
    a = ask("When did the old stone bridge reopen to traffic?", _opts(news, as_of="2025-11-21"))
    assert "on **Monday**" in a.answer
    assert a.notice and "“on Monday”" in a.notice and "Monday, 2025-11-17" in a.notice
    assert "an article of 2025-11-18" in a.notice
    # A question that does not ask when gets no such note.
    b = ask("Which bridge reopened to traffic?", _opts(news, as_of="2025-11-21"))
    assert not (b.notice and "means" in b.notice)


def test_an_undated_or_badly_dated_page_is_kept_and_answers(news: Path) -> None:
    with open_index(news) as idx:
        dates = idx.reader.doc_dates(d for d, *_ in idx.reader.documents())
    assert {d.split("#", 1)[1]: v for d, v in dates.items()}["bad-date"] is None
    a = ask("What colour was the lighthouse on the north cape repainted?", _opts(news, as_of="2025-11-21"))
    assert not a.abstained and "red" in a.answer
    b = ask("What did the ferry company change this week?", _opts(news, as_of="2025-11-21", abstain_threshold=0.0))
    assert "timetable" in b.answer


# -- rag eval ----------------------------------------------------------------------------------------

def _answer(question: str, date: str | None, abstained: bool = False) -> Answer:
    src = Source(n=1, doc_id="d#1", chunk_id="d#1#0", title="t", text="It rained.", start=0, end=10, score=1.0,
                 date=date)
    cit = Citation(n=1, passage=1, doc_id="d#1", chunk_id="d#1#0", title="t", quote="It rained.", quote_start=0, quote_end=10,
                   sentence="It rained.", support=1.0, supported=True)
    return Answer(question=question, answer="It rained. [1]", citations=() if abstained else (cit,),
                  sources=(src,), abstained=abstained, mode="extractive", device="none")


def test_eval_reports_each_answers_page_date_and_how_many_came_from_the_questions_week(tmp_path: Path) -> None:
    assert answer_date(_answer("q", "2025-11-18")) == "2025-11-18"
    assert answer_date(_answer("q", "2025-11-18", abstained=True)) is None
    assert in_week("2025-11-18", "2025-11-21") and in_week("2025-11-14", "2025-11-21")
    assert in_week("2025-11-13", "2025-11-21") is False and in_week(None, "2025-11-21") is None
    qfile = tmp_path / "q.jsonl"
    rows = [{"id": "1", "question": "A?", "as_of": "2025-11-21", "answers": ["rained"]},
            {"id": "2", "question": "B?", "as_of": "2025-11-21", "answers": ["rained"]},
            {"id": "3", "question": "C?", "as_of": "2025-11-21", "answers": ["rained"]}]
    qfile.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    dates = {"A?": "2025-11-20", "B?": "2021-06-08", "C?": None}

    def answer_fn(question: str, options: Settings, **kw) -> Answer:  # type: ignore[no-untyped-def]
        return _answer(question, dates[question])

    res = run_questions(qfile, Settings.from_env(index_dir=tmp_path / "none"), answer_fn=answer_fn,
                        out_dir=tmp_path / "run")
    assert res.counts["answers_from_dated_pages"] == 2 and res.counts["answers_from_the_questions_week"] == 1
    got = [json.loads(line) for line in (tmp_path / "run" / "questions.jsonl").read_text().splitlines()]
    assert [(r["answer_date"], r["answer_in_week"]) for r in got] == [
        ("2025-11-20", True), ("2021-06-08", False), (None, None)]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Answer dates" in report and "| 2 | 2025-11-21 | 2021-06-08 | no | 1 |" in report


def test_eval_of_an_undated_question_set_adds_no_date_counts(tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps({"id": "1", "question": "A?", "answers": ["rained"]}) + "\n", encoding="utf-8")
    res = run_questions(qfile, Settings.from_env(index_dir=tmp_path / "none"),
                        answer_fn=lambda q, o, **kw: _answer(q, None), out_dir=tmp_path / "run")
    assert "answers_from_the_questions_week" not in res.counts
    assert "## Answer dates" not in (tmp_path / "run" / "report.md").read_text()
