"""Run a question set through the bot and score every answer: retrieval over the source
documents of the passages given to the answerer, answer correctness, citations, abstention and
latency. `rag.answer.pipeline.ask` answers by default; any function with its signature can.

Library code never prints; long work reports through `progress(stage, done, total)`, the same
callback shape as `build_index`, so one progress bar serves both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rag.answer.citations import answer_sentences
from rag.config import Settings
from rag.errors import InputError, NoIndexError
from rag.evaluation import metrics as M
from rag.evaluation.datasets import Question, load_questions, select_questions
from rag.evaluation.report import RUNS_ROOT, RunResult, environment, finish_run, make_out_dir
from rag.types import Answer

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
# `answer_fn(question, options, *, index, conversation=None) -> Answer`: the shape of `ask`.
AnswerFn = Callable[..., Answer]

# -- question runs ----------------------------------------------------------------------------


def _ranked_docs(answer: Answer) -> list[str]:
    """Documents of the passages the answerer got, best first. A passage also found verbatim in
    other articles (`also_in`) brought their content too, so they rank with it."""
    out: list[str] = []
    for s in sorted(answer.sources, key=lambda s: s.n):
        out += [s.doc_id, *s.also_in]
    return list(dict.fromkeys(out))


def _cited_docs(answer: Answer, gold: set[str]) -> list[str]:
    """The document each citation names; when the cited passage also appears in a gold
    document, that one counts (the same words are in it)."""
    by_n = {s.n: s for s in answer.sources}
    out = []
    for c in answer.citations:
        doc = c.doc_id
        src = by_n.get(c.passage)
        if doc not in gold and src is not None:
            doc = next((d for d in (src.doc_id, *src.also_in) if d in gold), doc)
        out.append(doc)
    return out


def score_answer(q: Question, answer: Answer, k: int) -> dict[str, float | int | bool | None]:
    """Every per-question score; None where the score does not apply to this question."""
    gold = set(q.sources)
    ranked = _ranked_docs(answer)
    use_retrieval = q.answerable and bool(gold)
    use_answers = q.answerable and bool(q.answers)
    text = "" if answer.abstained else answer.answer
    cited = _cited_docs(answer, gold)
    sentences = answer_sentences(text) if text.strip() else []
    # "@k" is over the k passages the answerer got: every document they came from counts, even
    # when `also_in` makes that more than k documents.
    seen = max(len(ranked), 1)
    s: dict[str, float | int | bool | None] = {
        f"hit_at_{k}": M.hit_at_k(ranked, gold, seen) if use_retrieval else None,
        f"recall_at_{k}": M.recall_at_k(ranked, gold, seen) if use_retrieval else None,
        "mrr_at_10": M.mrr_at_k(ranked, gold, 10) if use_retrieval else None,
        "ndcg_at_10": M.ndcg_at_k(ranked, gold, 10) if use_retrieval else None,
        # An abstention on an answerable question is a wrong answer, not a missing one.
        "contains_answer": float(M.contains_answer(text, q.answers)) if use_answers else None,
        "token_f1": M.token_f1(text, q.answers) if use_answers else None,
        "citation_precision": (M.citation_precision(cited, gold)
                               if use_retrieval and not answer.abstained else None),
        "citation_coverage": M.citation_coverage(text) if text.strip() else None,
        "citations": len(answer.citations),
        "supported_citations": sum(1 for c in answer.citations if c.supported),
        "invalid_citations": len(answer.invalid_citations),
        "unsupported_citations": sum(1 for c in answer.citations if not c.supported),
        "unsupported_sentences": len(answer.unsupported_sentences),
        "answer_sentences": len(sentences),
        # A sentence counts as verified when one of its citations is supported by its passage.
        "verified_sentences": min(len({c.sentence for c in answer.citations if c.supported}), len(sentences)),
        "fallback": bool(getattr(answer, "fallback", False)),
        "abstention_correct": (bool(answer.abstained) if not q.answerable else None),
        "false_abstention": (bool(answer.abstained) if q.answerable else None),
    }
    return s


WEEK_DAYS = 7  # a question's week: the seven days up to its as_of (as "this week" reads, rag/answer/dates.py)


def answer_date(answer: Answer) -> str | None:
    """The publication date of the page the answer came from: the source its first supported
    citation names (else its first citation); None when abstained or that page is undated."""
    if answer.abstained or not answer.citations:
        return None
    by_n = {s.n: s for s in answer.sources}
    first = next((c for c in answer.citations if c.supported), answer.citations[0])
    src = by_n.get(first.passage)
    return src.date if src is not None else None


def in_week(date: str | None, as_of: str | None) -> bool | None:
    """Whether a page published on `date` lies in the week up to `as_of`; None when either is unknown."""
    import datetime as dt

    if not date or not as_of:
        return None
    try:
        day, asked = dt.date.fromisoformat(date[:10]), dt.date.fromisoformat(as_of)
    except ValueError:
        return None
    return asked - dt.timedelta(days=WEEK_DAYS) <= day <= asked


def _question_row(q: Question, answer: Answer, scores: dict[str, Any], wall_ms: float) -> dict[str, Any]:
    dated = answer_date(answer)
    return {
        "id": q.id,
        "question": q.question,
        "as_of": q.as_of,
        "answerable": q.answerable,
        "gold_answers": list(q.answers),
        "gold_sources": list(q.sources),
        "retrieved": [{"n": s.n, "doc_id": s.doc_id, "chunk_id": s.chunk_id, "score": s.score,
                       "also_in": list(s.also_in), "title": s.title, "text": s.text, "date": s.date}
                      for s in answer.sources],
        "prompt": answer.prompt,
        "model_reply": answer.model_reply,
        "answer": answer.answer,
        "abstained": answer.abstained,
        "mode": answer.mode,
        "model": answer.model,
        "device": answer.device,
        "standalone_question": answer.standalone_question,
        "citations": [{"n": c.n, "passage": c.passage, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "quote": c.quote,
                       "sentence": c.sentence, "support": c.support, "supported": c.supported}
                      for c in answer.citations],
        "invalid_citations": list(answer.invalid_citations),
        "unsupported_sentences": list(answer.unsupported_sentences),
        "notice": answer.notice,
        # The date of the page the answer came from, and whether it lies in the question's week.
        "answer_date": dated,
        "answer_in_week": in_week(dated, q.as_of),
        "scores": scores,
        "timings": {**answer.timings, "wall_ms": round(wall_ms, 2)},
    }


def _mean_of(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    vals = [float(r["scores"][key]) for r in rows if r["scores"].get(key) is not None]
    return M.mean(vals)


def _latency(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(r["timings"][key]) for r in rows
            if isinstance(r["timings"].get(key), (int, float)) and not isinstance(r["timings"][key], bool)]


def aggregate_questions(rows: Sequence[dict[str, Any]], k: int) -> tuple[dict[str, Any], dict[str, int]]:
    """Run-level metrics (means over the questions each score applies to) and counts."""
    m: dict[str, Any] = {}
    for key in (f"hit_at_{k}", f"recall_at_{k}", "mrr_at_10", "ndcg_at_10", "contains_answer", "token_f1",
                "citation_precision", "citation_coverage"):
        m[key] = _mean_of(rows, key)
    total_citations = sum(r["scores"]["citations"] for r in rows)
    m["supported_citation_rate"] = (sum(r["scores"]["supported_citations"] for r in rows) / total_citations
                                    if total_citations else None)
    n_sentences = sum(r["scores"].get("answer_sentences", 0) for r in rows)
    m["verified_sentence_rate"] = (sum(r["scores"].get("verified_sentences", 0) for r in rows) / n_sentences
                                   if n_sentences else None)
    m["invalid_citations"] = sum(r["scores"]["invalid_citations"] for r in rows)
    m["unsupported_citations"] = sum(r["scores"]["unsupported_citations"] for r in rows)
    m["abstention_accuracy"] = _mean_of(rows, "abstention_correct")
    m["false_abstention_rate"] = _mean_of(rows, "false_abstention")
    # Of the questions the bot said "the articles don't say" to, the share the articles indeed do
    # not answer (None when it never abstained).
    abstained = [r["scores"] for r in rows if r["abstained"]]
    m["abstention_precision"] = (sum(bool(x["abstention_correct"]) for x in abstained) / len(abstained)
                                 if abstained else None)
    # Total falls back to the wall time measured here when the answerer reports none.
    for stage in ("retrieval_ms", "scoring_ms", "citation_check_ms", "generation_ms", "total_ms", "ttft_ms"):
        vals = (_latency(rows, stage) if stage != "total_ms" else
                [float(r["timings"].get("total_ms", r["timings"]["wall_ms"])) for r in rows])
        m[f"{stage}_p50"] = M.percentile(vals, 50)
        m[f"{stage}_p95"] = M.percentile(vals, 95)
    llm_rows = [r for r in rows if r["mode"] == "llm" and not r["abstained"]]
    m["tokens_per_s_mean"] = M.mean(_latency(llm_rows, "tokens_per_s"))
    counts = {
        "questions": len(rows),
        "answerable": sum(1 for r in rows if r["answerable"]),
        "unanswerable": sum(1 for r in rows if not r["answerable"]),
        "with_gold_sources": sum(1 for r in rows if r["answerable"] and r["gold_sources"]),
        "with_gold_answers": sum(1 for r in rows if r["answerable"] and r["gold_answers"]),
        "abstained": sum(1 for r in rows if r["abstained"]),
        "llm_answers": sum(1 for r in rows if r["mode"] == "llm"),
        "answers_with_citations": sum(1 for r in rows if r["citations"]),
        # What makes a bad run visible: answers that cite nothing, answers the LLM path gave up on.
        "answers_without_citations": sum(1 for r in rows if not r["abstained"] and not r["citations"]),
        "fallback_answers": sum(1 for r in rows if r["scores"].get("fallback")),
        "answer_sentences": n_sentences,
        "citations": total_citations,
    }
    if any(r.get("as_of") for r in rows):
        # Dated questions: how many answers came from a dated page, and from one of the question's week.
        counts["answers_from_dated_pages"] = sum(1 for r in rows if r.get("answer_date"))
        counts["answers_from_the_questions_week"] = sum(1 for r in rows if r.get("answer_in_week"))
    return m, counts


def _default_answer_fn(settings: Settings) -> tuple[AnswerFn, str, Any]:
    """`rag.answer.pipeline.ask` with the LLM loaded once for the whole run (ask would load it per call).

    Returns the function, the mode actually used, and the generator (to close at the end)."""
    from rag.answer import pipeline

    mode = settings.mode
    gen = None
    effective = mode
    if mode in ("auto", "llm"):
        gen, _ = pipeline.load_generator(settings)  # ModelError in "llm" mode when the model is missing: let it out
        if gen is None:
            effective = "extractive"  # "auto" without a model: do not try to load it per question
    hooks = pipeline.Hooks(generator=gen)

    def answer(question: str, options: Settings, **kw: Any) -> Answer:
        return pipeline.ask(question, options, hooks=hooks, **kw)

    return answer, effective, gen


def run_questions(
    questions_path: str | Path,
    options: Settings | None = None,
    *,
    limit: int | None = None,
    out_dir: str | Path | None = None,
    name: str | None = None,
    answer_fn: AnswerFn | None = None,
    progress: ProgressFn | None = None,
    runs_root: str | Path = RUNS_ROOT,
    ids_before: str | None = None,
    ids_from: str | None = None,
) -> RunResult:
    """Ask every question (the first `limit`), score it, and write the run folder.

    `options` (default `Settings.from_env()`) names the index, k, mode, model, retrieval and the
    dates; `ids_before`/`ids_from` select a split by question id (see `select_questions`). A
    question's own `as_of` wins over `options.as_of`.

    `answer_fn(question, options, *, index, conversation=None) -> Answer` defaults to
    `rag.answer.pipeline.ask` with the LLM loaded once; `index` is the opened index, or None when there
    is none at `options.index_dir` and an `answer_fn` was given. An error from the answerer stops
    the run (questions.jsonl keeps the questions done so far).
    """
    t_start = time.perf_counter()
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    from rag.answer.pipeline import MODES
    from rag.retrieval import RETRIEVAL_MODES, open_index

    # Temperature 0 and the fixed seed come from here, so a run repeats.
    settings_used = options if options is not None else Settings.from_env()
    index_dir, mode, model, k = settings_used.index_dir, settings_used.mode, settings_used.model, settings_used.k
    retrieval, since, until, as_of = settings_used.retrieval, settings_used.since, settings_used.until, settings_used.as_of
    if k < 1:
        raise InputError(f"k must be at least 1, not {k}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if retrieval not in RETRIEVAL_MODES:
        raise InputError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {retrieval!r}")
    questions = load_questions(questions_path)
    if ids_before is not None or ids_from is not None:
        questions = select_questions(questions, ids_before, ids_from)
    questions = questions[:limit]

    try:
        idx = open_index(index_dir)
    except NoIndexError:
        if answer_fn is None:
            raise
        idx = None  # an injected answerer may not need one
    warnings: list[str] = []
    gen = None
    effective_mode = mode
    answerer = "rag.answer.pipeline.ask" if answer_fn is None else _callable_name(answer_fn)
    try:
        if answer_fn is None:
            answer_fn, effective_mode, gen = _default_answer_fn(settings_used)
            if effective_mode != mode:
                warnings.append("no LLM is available (see `rag models`): every question was answered "
                                "extractively")
        if idx is not None:
            known = {d for d, *_ in idx.reader.documents()}
            missing = sorted({s for q in questions for s in q.sources} - known)
            if missing:
                warnings.append(
                    f"{len(missing)} gold source(s) are not documents of the index at {index_dir} "
                    f"(e.g. {', '.join(missing[:3])}): their questions score 0 on retrieval and citations; "
                    "gold sources must be document ids as `rag search` shows them")

        name = name or f"{Path(questions_path).stem}-{retrieval}-{mode}"
        folder = make_out_dir(out_dir, name, runs_root)
        rows: list[dict[str, Any]] = []
        answer = answer_fn
        with open(folder / "questions.jsonl", "w", encoding="utf-8") as fh:
            for i, q in enumerate(questions):
                t = time.perf_counter()
                opts = settings_used.with_(mode=effective_mode, as_of=q.as_of)
                if q.history:
                    # A follow-up: the chat's earlier questions are asked first, in one conversation,
                    # as `rag chat` would; only the last answer is scored.
                    from rag.answer.conversation import Conversation

                    conversation = Conversation.after(q.history, lambda h, **kw: answer(h, opts, index=idx, **kw))
                    got = answer(q.question, opts, index=idx, conversation=conversation)
                else:
                    got = answer(q.question, opts, index=idx)
                wall_ms = (time.perf_counter() - t) * 1000
                row = _question_row(q, got, score_answer(q, got, k), wall_ms)
                rows.append(row)
                # Written as it goes: a run stopped part-way still leaves what it measured.
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
                fh.flush()
                if progress:
                    progress("questions", i + 1, len(questions))
        manifest = dict(idx.manifest) if idx is not None else None
    finally:
        if idx is not None:
            idx.close()
        close = getattr(gen, "close", None)
        if callable(close):
            close()

    metrics, counts = aggregate_questions(rows, k)
    settings = {
        "questions": str(Path(questions_path).resolve()),
        "index_dir": str(Path(index_dir).resolve()),
        "index_manifest": manifest,
        "embedder": (manifest or {}).get("embedder", {}).get("name"),
        "mode": mode,
        "mode_used": effective_mode,
        "models": sorted({r["model"] for r in rows if r["model"]}),
        "devices": sorted({r["device"] for r in rows if r["device"]}),
        "model_requested": model,
        "k": k,
        "retrieval": retrieval,
        "limit": limit,
        "ids_before": ids_before,
        "ids_from": ids_from,
        "since": since,
        "until": until,
        "as_of": as_of,
        "questions_with_as_of": sum(1 for q in questions if q.as_of),
        "temperature": settings_used.temperature,
        "seed": settings_used.seed,
        "answerer": answerer,
        **environment(),
    }
    result = finish_run("questions", name, folder, metrics, counts, settings, warnings, created,
                        time.perf_counter() - t_start, _question_latencies(rows))
    if any(r.get("as_of") for r in rows):
        with open(folder / "report.md", "a", encoding="utf-8") as fh:
            fh.write(answer_dates_table(rows))
    return result


def answer_dates_table(rows: Sequence[dict[str, Any]]) -> str:
    """report.md's per-question answer dates: when each question was asked, the date of the page
    its answer came from, and whether that lies in the question's week."""
    mark = {True: "yes", False: "no", None: "–"}
    lines = ["", "## Answer dates", "",
             f"Answers from a page of the question's week (the {WEEK_DAYS} days up to its as_of): "
             f"{sum(1 for r in rows if r.get('answer_in_week'))} of "
             f"{sum(1 for r in rows if not r['abstained'])} answers "
             f"({sum(1 for r in rows if r.get('answer_date'))} from dated pages).", "",
             "| id | as_of | answer's page date | in the week | contains gold |", "|---|---|---|---|---|"]
    for r in rows:
        got = r["scores"].get("contains_answer")
        lines.append(f"| {r['id']} | {r.get('as_of') or '–'} | "
                     f"{'abstained' if r['abstained'] else r.get('answer_date') or 'undated'} | "
                     f"{mark[r.get('answer_in_week')]} | {'–' if got is None else int(got)} |")
    return "\n".join(lines) + "\n"


def _callable_name(fn: Any) -> str:
    """module.qualname of a function, or of the class of a callable object."""
    named = fn if hasattr(fn, "__qualname__") else type(fn)
    return f"{getattr(named, '__module__', '?')}.{named.__qualname__}"


def _question_latencies(rows: Sequence[dict[str, Any]]) -> dict[str, list[float]]:
    return {
        "retrieval": _latency(rows, "retrieval_ms"),
        "generation": _latency(rows, "generation_ms"),
        "total": [float(r["timings"].get("total_ms", r["timings"]["wall_ms"])) for r in rows],
    }

