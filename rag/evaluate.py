"""Measure the bot: run a question set through it, or a BEIR dataset through retrieval, and
write a run folder with per-question records, a summary, a readable report and plots.

Two kinds of run:

- `run_questions`: every question of a JSONL file goes through the answering function
  (`rag.pipeline.ask` by default) and is scored on retrieval (over the source documents of the
  passages given to the answerer), answer correctness, citations, abstention and latency.
- `run_beir`: a BEIR-format dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) is indexed
  into its own folder and every query is searched; nDCG@10, Recall@100, MRR@10 and hit@10 are
  computed the way BEIR does (see rag/metrics.py), so the figures can be set beside published
  tables. Two setups: the project's own chunking (`chunked`, what the bot really searches) and
  BEIR's own, one passage per document embedded as `title + " " + text` (`passage`).

Run folder (`runs/<timestamp>-<name>/` unless `out_dir` is given)::

    questions.jsonl   one record per question / query, with every per-question score
    summary.json      {"kind", "name", "created", "duration_s", "metrics", "counts",
                       "settings", "warnings"}: what `compare_runs` and `check_thresholds` read
    report.md         every metric and setting as tables
    metrics.png       bars of the main (0..1) metrics
    latency.png       latency distribution per stage

Library code never prints; long work reports through `progress(stage, done, total)`, the same
callback shape as `build_index`, so one progress bar serves both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import metrics as M
from .config import DEFAULT_EMBEDDER, PROJECT_ROOT, Settings
from .errors import InputError, NoIndexError
from .types import Answer

if TYPE_CHECKING:  # pragma: no cover
    from .embedding import Embedder

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)
AnswerFn = Callable[..., Answer]

RUNS_ROOT = Path("runs")
QUERY_BATCH = 64  # BEIR queries searched per call
EMBED_BATCH = 1024  # BEIR passages embedded and written per step
PASSAGE_FORMAT = 1  # bump when the passage index layout changes, so old ones are rebuilt

# Metrics that are counts or durations, not rates in 0..1 (kept out of the bar chart).
_NOT_RATES = re.compile(r"(_ms_|_ms$|tokens_per_s|^invalid_citations$|^unsupported_citations$|_s$)")
# Short names accepted by `check_thresholds` (and the CLI's --min-* options).
ALIASES = {
    "contains": "contains_answer",
    "f1": "token_f1",
    "abstention": "abstention_accuracy",
    "false_abstention": "false_abstention_rate",
    "coverage": "citation_coverage",
    "supported": "supported_citation_rate",
}


# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # document ids as the index names them
    answerable: bool = True


@dataclass(frozen=True)
class BeirData:
    name: str  # the dataset folder's name
    corpus: dict[str, tuple[str, str]]  # _id -> (title, text)
    queries: dict[str, str]  # only queries judged in the split, in qrels order
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade}
    split: str = "test"


@dataclass(frozen=True)
class RunResult:
    """What a run measured; `summary.json` in `out_dir` holds the same (`--json` = asdict)."""

    kind: str  # "questions" or "beir"
    name: str
    out_dir: str
    metrics: dict[str, float | int | None]
    counts: dict[str, int]
    settings: dict[str, Any]
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    created: str = ""
    duration_s: float = 0.0


# -- loading ----------------------------------------------------------------------------------


def _str_list(value: object, what: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                              for v in value):
        raise InputError(f"{where}: '{what}' must be a list of strings")
    return tuple(str(v) for v in value)


def load_questions(path: str | Path) -> list[Question]:
    """Questions from a JSONL file: one object per line with `question` (required) and optional
    `id` (default: the line number), `answers`, `sources` (document ids) and `answerable`
    (default true; only an explicit `false` makes a question unanswerable)."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"no question file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    out: list[Question] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(rec, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(rec).__name__}")
        q = rec.get("question")
        if not isinstance(q, str) or not q.strip():
            raise InputError(f"{where}: 'question' is missing or empty")
        qid = rec.get("id", n)
        if not isinstance(qid, (str, int)) or isinstance(qid, bool) or not str(qid).strip():
            raise InputError(f"{where}: 'id' must be a non-empty string or number")
        qid = str(qid).strip()
        if qid in seen:
            raise InputError(f"{where}: id {qid!r} was already used on line {seen[qid]}")
        seen[qid] = n
        answerable = rec.get("answerable", True)
        if not isinstance(answerable, bool):
            raise InputError(f"{where}: 'answerable' must be true or false")
        out.append(Question(id=qid, question=q.strip(), answers=_str_list(rec.get("answers"), "answers", where),
                            sources=_str_list(rec.get("sources"), "sources", where), answerable=answerable))
    if not out:
        raise InputError(f"{path} holds no questions")
    return out


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        fh = open(path, encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path} is missing (a BEIR folder holds corpus.jsonl, queries.jsonl, qrels/)") from None
    out = []
    with fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {n}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict) or "_id" not in rec:
                raise InputError(f"{path} line {n}: expected an object with '_id'")
            out.append((n, rec))
    return out


def load_beir(folder: str | Path, split: str = "test") -> BeirData:
    """A BEIR dataset folder. Only queries with judgements in `split` are kept, as BEIR does."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"no BEIR dataset folder at {folder}")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
        raise InputError(f"{qrels_path} is missing" + (f"; splits here: {', '.join(have)}" if have else ""))

    qrels: dict[str, dict[str, int]] = {}
    # splitlines() also strips the CRLF line ends the published qrels files have.
    lines = qrels_path.read_text(encoding="utf-8-sig").splitlines()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cols = line.rstrip("\r").split("\t")
        if n == 1 and (len(cols) < 3 or not re.fullmatch(r"-?\d+(\.0+)?", cols[2].strip())):
            continue  # the header row: query-id, corpus-id, score
        if len(cols) != 3:
            raise InputError(f"{qrels_path} line {n}: expected 3 tab-separated columns, got {len(cols)}")
        try:
            grade = int(float(cols[2]))
        except ValueError:
            raise InputError(f"{qrels_path} line {n}: score {cols[2]!r} is not a number") from None
        qrels.setdefault(cols[0].strip(), {})[cols[1].strip()] = grade
    if not qrels:
        raise InputError(f"{qrels_path} holds no judgements")

    all_queries = {str(r["_id"]): str(r.get("text") or "") for _, r in _read_jsonl(folder / "queries.jsonl")}
    missing = [q for q in qrels if q not in all_queries]
    if missing:
        raise InputError(f"{qrels_path} judges {len(missing)} queries missing from queries.jsonl "
                         f"(e.g. {missing[0]!r})")
    corpus = {str(r["_id"]): (str(r.get("title") or ""), str(r.get("text") or ""))
              for _, r in _read_jsonl(folder / "corpus.jsonl")}
    if not corpus:
        raise InputError(f"{folder / 'corpus.jsonl'} holds no documents")
    return BeirData(name=folder.resolve().name, corpus=corpus,
                    queries={q: all_queries[q] for q in qrels}, qrels=qrels, split=split)


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
        src = by_n.get(c.n)
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
        "abstention_correct": (bool(answer.abstained) if not q.answerable else None),
        "false_abstention": (bool(answer.abstained) if q.answerable else None),
    }
    return s


def _question_row(q: Question, answer: Answer, scores: dict[str, Any], wall_ms: float) -> dict[str, Any]:
    return {
        "id": q.id,
        "question": q.question,
        "answerable": q.answerable,
        "gold_answers": list(q.answers),
        "gold_sources": list(q.sources),
        "retrieved": [{"n": s.n, "doc_id": s.doc_id, "chunk_id": s.chunk_id, "score": s.score,
                       "also_in": list(s.also_in), "title": s.title, "text": s.text}
                      for s in answer.sources],
        "prompt": answer.prompt,
        "answer": answer.answer,
        "abstained": answer.abstained,
        "mode": answer.mode,
        "model": answer.model,
        "device": answer.device,
        "standalone_question": answer.standalone_question,
        "citations": [{"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "quote": c.quote,
                       "sentence": c.sentence, "support": c.support, "supported": c.supported}
                      for c in answer.citations],
        "invalid_citations": list(answer.invalid_citations),
        "unsupported_sentences": list(answer.unsupported_sentences),
        "notice": answer.notice,
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
    m["invalid_citations"] = sum(r["scores"]["invalid_citations"] for r in rows)
    m["unsupported_citations"] = sum(r["scores"]["unsupported_citations"] for r in rows)
    m["abstention_accuracy"] = _mean_of(rows, "abstention_correct")
    m["false_abstention_rate"] = _mean_of(rows, "false_abstention")
    # Total falls back to the wall time measured here when the answerer reports none.
    for stage in ("retrieval_ms", "generation_ms", "total_ms", "ttft_ms"):
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
        "citations": total_citations,
    }
    return m, counts


def _default_answer_fn(settings: Settings) -> tuple[AnswerFn, str, Any]:
    """`rag.pipeline.ask` with the LLM loaded once for the whole run (ask would load it per call).

    Returns the function, the mode actually used, and the generator (to close at the end)."""
    from . import pipeline

    mode = settings.mode
    gen = None
    effective = mode
    if mode in ("auto", "llm"):
        gen, _ = pipeline.load_generator(settings)  # ModelError in "llm" mode when the model is missing: let it out
        if gen is None:
            effective = "extractive"  # "auto" without a model: do not try to load it per question

    def answer(question: str, **kw: Any) -> Answer:
        kw["mode"] = effective
        return pipeline.ask(question, generator=gen, settings=settings, **kw)

    return answer, effective, gen


def run_questions(
    questions_path: str | Path,
    *,
    index_dir: str | Path = "index",
    mode: str = "auto",
    model: str | None = None,
    k: int = 5,
    retrieval: str = "hybrid",
    limit: int | None = None,
    out_dir: str | Path | None = None,
    name: str | None = None,
    answer_fn: AnswerFn | None = None,
    progress: ProgressFn | None = None,
    runs_root: str | Path = RUNS_ROOT,
) -> RunResult:
    """Ask every question (the first `limit`), score it, and write the run folder.

    `answer_fn(question, *, index, index_dir, k, mode, model, retrieval) -> Answer` defaults to
    `rag.pipeline.ask` with the LLM loaded once; `index` is the opened index, or None when there
    is none at `index_dir` and an `answer_fn` was given. An error from the answerer stops the run
    (questions.jsonl keeps the questions done so far).
    """
    t_start = time.perf_counter()
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    from .pipeline import MODES
    from .retrieval import RETRIEVAL_MODES, open_index

    if k < 1:
        raise InputError(f"k must be at least 1, not {k}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if retrieval not in RETRIEVAL_MODES:
        raise InputError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {retrieval!r}")
    questions = load_questions(questions_path)[:limit]
    # Temperature 0 and the fixed seed come from here, so a run repeats.
    settings_used = Settings.from_env().with_(index_dir=Path(index_dir), k=k, mode=mode, model=model,
                                              retrieval=retrieval)

    try:
        idx = open_index(index_dir)
    except NoIndexError:
        if answer_fn is None:
            raise
        idx = None  # an injected answerer may not need one
    warnings: list[str] = []
    gen = None
    effective_mode = mode
    answerer = "rag.pipeline.ask" if answer_fn is None else _callable_name(answer_fn)
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
        folder = _make_out_dir(out_dir, name, runs_root)
        rows: list[dict[str, Any]] = []
        with open(folder / "questions.jsonl", "w", encoding="utf-8") as fh:
            for i, q in enumerate(questions):
                t = time.perf_counter()
                answer = answer_fn(q.question, index=idx, index_dir=index_dir, k=k, mode=effective_mode,
                                   model=model, retrieval=retrieval)
                wall_ms = (time.perf_counter() - t) * 1000
                row = _question_row(q, answer, score_answer(q, answer, k), wall_ms)
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
        "temperature": settings_used.temperature,
        "seed": settings_used.seed,
        "answerer": answerer,
        **_environment(),
    }
    return _finish("questions", name, folder, metrics, counts, settings, warnings, created,
                   time.perf_counter() - t_start, _question_latencies(rows))


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


# -- BEIR runs --------------------------------------------------------------------------------


def _write_if_changed(path: Path, lines: Sequence[str]) -> bool:
    """Write `lines` to `path` unless it already holds exactly them; True when written."""
    data = "".join(lines).encode("utf-8")
    if path.is_file() and path.stat().st_size == len(data):
        if hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest():
            return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def _index_chunked(data: BeirData, index_root: Path, index_dir: Path, embedder: "Embedder | str | None",
                   progress: ProgressFn | None) -> dict[str, Any]:
    """Index the corpus the way the bot indexes articles: a JSONL of the documents through
    `build_index` (its content diff makes an unchanged corpus cost nothing)."""
    from .indexing import build_index

    jsonl = index_root / f"beir-{data.name.removeprefix('beir-')}.jsonl"
    lines = []
    for did, (title, text) in data.corpus.items():
        if not (title.strip() or text.strip()):
            continue  # nothing to index; BEIR would embed "" and never rank it usefully
        # The loader needs some text; a title-only record becomes its own text.
        lines.append(json.dumps({"id": did, "title": title, "text": text if text.strip() else title},
                                ensure_ascii=False) + "\n")
    _write_if_changed(jsonl, lines)
    report = build_index([jsonl], index_dir, embedder=embedder, progress=progress)
    return {"written": report.written, "documents": report.documents, "chunks": report.chunks,
            "problems": len(report.problems), "corpus_file": str(jsonl), "duplicates": len(report.duplicates),
            "problem_examples": [p.message for p in report.problems[:3]]}


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _index_passages(data: BeirData, corpus_path: Path, index_dir: Path, embedder: "Embedder | str | None",
                    progress: ProgressFn | None) -> dict[str, Any]:
    """Index one passage per document, embedded as `(title + " " + text).strip()` like BEIR's
    SentenceBERT evaluation; the embedder truncates at its own limit (256 word pieces for
    all-MiniLM-L6-v2), as BEIR and MTEB did. Rebuilt only when the corpus file, the embedder or
    this layout changes."""
    import numpy as np

    from .embedding import backend_of, default_backend, load_embedder, manifest_backend
    from .store import FTS_TOKENIZER, GenerationWriter, IndexLock, current_generation, read_manifest
    from .types import Chunk, Document

    fingerprint = {"dataset": data.name, "setup": "passage", "format": PASSAGE_FORMAT,
                   "corpus_sha256": _file_sha256(corpus_path)}
    with IndexLock(index_dir):
        base = current_generation(index_dir) if index_dir.exists() else None
        manifest = read_manifest(base) if base is not None else None
        wanted = embedder if embedder is not None else (
            manifest["embedder"]["name"] if manifest else DEFAULT_EMBEDDER)
        wanted_name = wanted if isinstance(wanted, str) else wanted.name
        wanted_backend = default_backend(wanted) if isinstance(wanted, str) else backend_of(wanted)
        if manifest is not None and manifest.get("beir") == fingerprint \
                and manifest["embedder"]["name"] == wanted_name \
                and manifest_backend(manifest["embedder"]) == wanted_backend:
            c = manifest["counts"]
            return {"written": False, "documents": c["documents"], "chunks": c["chunks"], "problems": 0}
        emb = load_embedder(wanted) if isinstance(wanted, str) else wanted
        writer = GenerationWriter(index_dir, None, emb.dim)
        try:
            ids = list(data.corpus)
            for b in range(0, len(ids), EMBED_BATCH):
                part = ids[b:b + EMBED_BATCH]
                texts = [(data.corpus[d][0] + " " + data.corpus[d][1]).strip() for d in part]
                vecs = emb.embed(texts) if texts else np.zeros((0, emb.dim), np.float32)
                for j, d in enumerate(part):
                    title, text = data.corpus[d]
                    writer.add_document(Document(
                        id=d, title=title, text=text, source=str(corpus_path),
                        sha256=hashlib.sha256(f"{title}\n{text}".encode("utf-8")).hexdigest()), None)
                    writer.add_chunks(title, [Chunk(id=f"{d}#0", doc_id=d, n=0, text=text, start=0,
                                                    end=len(text))], vecs[j:j + 1])
                if progress:
                    progress("embedding", b + len(part), len(ids))
            writer.commit({
                "embedder": {"name": emb.name, "dim": emb.dim, "max_tokens": emb.max_tokens,
                             **({"backend": backend_of(emb)} if backend_of(emb) else {})},
                # Not the chunker's parameters: `build_index` on this folder would rebuild it.
                "chunking": {"setup": "passage", "max_tokens": emb.max_tokens, "target_tokens": None,
                             "overlap": 0, "special_tokens": 2},
                "lexical": {"engine": "sqlite-fts5", "tokenizer": FTS_TOKENIZER, "weights": [0.5, 0.5, 1.0]},
                "sources": [str(corpus_path.resolve())],
                "beir": fingerprint,
            })
        except BaseException:
            writer.abort()
            raise
    return {"written": True, "documents": len(ids), "chunks": len(ids), "problems": 0}


def run_beir(
    folder: str | Path,
    *,
    index_root: str | Path = "index",
    retrieval: str = "hybrid",
    k: int = 100,
    limit: int | None = None,
    split: str = "test",
    chunked: bool = True,
    embedder: "Embedder | str | None" = None,
    out_dir: str | Path | None = None,
    name: str | None = None,
    progress: ProgressFn | None = None,
    runs_root: str | Path = RUNS_ROOT,
    latency_sample: int = 100,
) -> RunResult:
    """Retrieval-only evaluation on a BEIR dataset: nDCG@10, Recall@k, MRR@10, hit@10.

    Scored as BEIR's `EvaluateRetrieval` does: every judged query counts (one without any
    relevant document scores 0), and a document whose id equals the query's id is dropped from
    the ranking (`ignore_identical_ids`, which matters for ArguAna and Quora). In the chunked
    setup a document ranks by its best passage, and documents with identical text (indexed once
    by the project) are put back beside it with the same score.

    Latency is measured apart from the batched scoring run: the first `latency_sample` queries
    are searched one at a time, as a user's question would be.
    """
    from .retrieval import open_index

    t_start = time.perf_counter()
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if k < 10:
        raise InputError(f"k must be at least 10 for the @10 metrics, not {k}")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, not {limit}")
    folder = Path(folder)
    data = load_beir(folder, split)
    setup = "chunked" if chunked else "passage"
    index_root = Path(index_root)
    label = data.name.removeprefix("beir-")  # a folder named beir-scifact gives beir-scifact-…, not beir-beir-…
    index_dir = index_root / f"beir-{label}-{setup}"

    t = time.perf_counter()
    if chunked:
        built = _index_chunked(data, index_root, index_dir, embedder, progress)
    else:
        built = _index_passages(data, folder / "corpus.jsonl", index_dir, embedder, progress)
    index_s = time.perf_counter() - t

    warnings: list[str] = []
    if built.get("problems"):
        warnings.append(f"{built['problems']} corpus record(s) could not be indexed "
                        f"(e.g. {'; '.join(built.get('problem_examples', []))})")
    qids = list(data.queries)[:limit]
    rankings: dict[str, list[tuple[str, float]]] = {}
    search_lat: list[float] = []
    idx = open_index(index_dir, embedder=embedder)
    try:
        t = time.perf_counter()
        for b in range(0, len(qids), QUERY_BATCH):
            part = qids[b:b + QUERY_BATCH]
            # One extra so that dropping the query's own id still leaves k documents.
            found = idx.search_documents([data.queries[q] for q in part], k=k + 1, retrieval=retrieval)
            for q, docs in zip(part, found):
                rankings[q] = _beir_ranking(idx, docs, q, k, chunked)
            if progress:
                progress("queries", b + len(part), len(qids))
        batch_s = time.perf_counter() - t
        for i, q in enumerate(qids[:max(latency_sample, 0)]):
            t = time.perf_counter()
            idx.search_documents([data.queries[q]], k=k + 1, retrieval=retrieval)
            search_lat.append((time.perf_counter() - t) * 1000)
            if progress:
                progress("latency", i + 1, min(latency_sample, len(qids)))
        manifest = dict(idx.manifest)
        fusion = dataclasses.asdict(idx.fusion)
    finally:
        idx.close()

    name = name or f"beir-{label}-{setup}-{retrieval}"
    out = _make_out_dir(out_dir, name, runs_root)
    per_query: dict[str, list[float]] = {"ndcg_at_10": [], f"recall_at_{k}": [], "mrr_at_10": [], "hit_at_10": []}
    with open(out / "questions.jsonl", "w", encoding="utf-8") as fh:
        for q in qids:
            ranked = [d for d, _ in rankings[q]]
            rel = data.qrels[q]
            scores = {"ndcg_at_10": M.ndcg_at_k(ranked, rel, 10), f"recall_at_{k}": M.recall_at_k(ranked, rel, k),
                      "mrr_at_10": M.mrr_at_k(ranked, rel, 10), "hit_at_10": M.hit_at_k(ranked, rel, 10)}
            for key, v in scores.items():
                per_query[key].append(v)
            rank_of = {d: r for r, d in enumerate(ranked, start=1)}
            fh.write(json.dumps({
                "id": q, "question": data.queries[q], "relevant": rel,
                "relevant_ranks": {d: rank_of.get(d) for d, g in rel.items() if g > 0},
                "retrieved": [[d, round(s, 6)] for d, s in rankings[q][:10]],
                "scores": scores,
            }, ensure_ascii=False) + "\n")

    metrics: dict[str, Any] = {key: M.mean(v) for key, v in per_query.items()}
    metrics["search_ms_p50"] = M.percentile(search_lat, 50)
    metrics["search_ms_p95"] = M.percentile(search_lat, 95)
    metrics["queries_per_s"] = len(qids) / batch_s if batch_s > 0 else None
    metrics["index_s"] = round(index_s, 3)
    counts = {"queries": len(qids), "corpus_documents": len(data.corpus),
              "indexed_documents": int(manifest["counts"]["documents"]),
              "chunks": int(manifest["counts"]["chunks"]),
              "queries_without_relevant": sum(1 for q in qids if not any(g > 0 for g in data.qrels[q].values())),
              "latency_sample": len(search_lat)}
    settings = {
        "dataset": data.name, "folder": str(folder.resolve()), "split": split, "setup": setup,
        "index_dir": str(index_dir.resolve()), "index_written": built["written"],
        "index_manifest": manifest, "embedder": manifest["embedder"]["name"],
        "retrieval": retrieval, "fusion": fusion if retrieval == "hybrid" else None,
        "k": k, "limit": limit, "query_batch": QUERY_BATCH, "ignore_identical_ids": True,
        **_environment(),
    }
    return _finish("beir", name, out, metrics, counts, settings, warnings, created,
                   time.perf_counter() - t_start, {"search": search_lat})


def _beir_ranking(idx: Any, docs: list[tuple[str, float]], qid: str, k: int,
                  chunked: bool) -> list[tuple[str, float]]:
    """Index document ids back to BEIR ids, duplicates restored, the query's own id dropped."""
    if chunked:
        dups = idx.reader.duplicates_of(d for d, _ in docs)
        expanded = []
        for d, s in docs:
            expanded += [(x, s) for x in (d, *dups.get(d, ()))]
        # Ids are "<file>.jsonl#<_id>"; the file name holds no '#', the _id may.
        docs = [(d.split("#", 1)[1], s) for d, s in expanded]
    return [(d, s) for d, s in docs if d != qid][:k]


# -- output -----------------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "run"


def _make_out_dir(out_dir: str | Path | None, name: str, runs_root: str | Path) -> Path:
    if out_dir is not None:
        p = Path(out_dir)
        p.mkdir(parents=True, exist_ok=True)
        return p
    base = Path(runs_root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
    p, n = base, 1
    while True:
        try:
            p.mkdir(parents=True, exist_ok=False)
            return p
        except FileExistsError:
            n += 1
            p = base.with_name(f"{base.name}-{n}")


def _environment() -> dict[str, Any]:
    commit, dirty = None, None
    try:
        commit = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        if commit:
            dirty = bool(subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain",
                                         "--untracked-files=no"], capture_output=True, text=True,
                                        timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return {"git_commit": commit, "git_dirty": dirty, "python": sys.version.split()[0],
            "platform": platform.platform()}


def _finish(kind: str, name: str, out: Path, metrics: dict[str, Any], counts: dict[str, int],
            settings: dict[str, Any], warnings: list[str], created: str, duration_s: float,
            latencies: dict[str, list[float]]) -> RunResult:
    metrics = {key: (round(v, 6) if isinstance(v, float) else v) for key, v in metrics.items()}
    summary = {"kind": kind, "name": name, "created": created, "duration_s": round(duration_s, 3),
               "metrics": metrics, "counts": counts, "settings": settings, "warnings": warnings}
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str) + "\n",
                                      encoding="utf-8")
    (out / "report.md").write_text(format_report(summary), encoding="utf-8")
    _plot_metrics(metrics, out / "metrics.png", f"{name} ({kind})")
    _plot_latency(latencies, out / "latency.png", f"{name}: latency per {'query' if kind == 'beir' else 'question'}")
    files = tuple(str(out / f) for f in ("questions.jsonl", "summary.json", "report.md", "metrics.png", "latency.png"))
    return RunResult(kind=kind, name=name, out_dir=str(out), metrics=metrics, counts=counts, settings=settings,
                     warnings=tuple(warnings), files=files, created=created, duration_s=round(duration_s, 3))


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _md_cell(v: Any) -> str:
    text = _fmt(v) if not isinstance(v, (dict, list)) else json.dumps(v, ensure_ascii=False, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def format_metrics(summary: Mapping[str, Any] | RunResult) -> str:
    """The metrics and counts as an aligned plain-text table (for the CLI)."""
    s = _summary_dict(summary)
    rows = [(key, _fmt(v)) for key, v in s["metrics"].items()] + [(key, str(v)) for key, v in s["counts"].items()]
    width = max(len(r[0]) for r in rows)
    lines = [f"{s['kind']} run {s['name']}"]
    lines += [f"  {key:<{width}}  {v}" for key, v in rows]
    lines += [f"  warning: {w}" for w in s.get("warnings", [])]
    return "\n".join(lines)


def format_report(summary: Mapping[str, Any]) -> str:
    """report.md: every metric, count and setting as Markdown tables."""
    lines = [f"# Evaluation: {summary['name']}", "",
             f"Kind: {summary['kind']} · created {summary['created']} · {summary['duration_s']:.1f} s", ""]
    if summary.get("warnings"):
        lines += ["## Warnings", ""] + [f"- {w}" for w in summary["warnings"]] + [""]
    lines += ["## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {_md_cell(v)} |" for key, v in summary["metrics"].items()]
    lines += ["", "## Counts", "", "| count | value |", "|---|---|"]
    lines += [f"| {key} | {_md_cell(v)} |" for key, v in summary["counts"].items()]
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    settings = dict(summary["settings"])
    manifest = settings.pop("index_manifest", None)
    lines += [f"| {key} | {_md_cell(v)} |" for key, v in settings.items()]
    if manifest:
        lines += ["", "### Index manifest", "", "```json", json.dumps(manifest, indent=2, default=str), "```"]
    lines += ["", "![metrics](metrics.png)", "", "![latency](latency.png)", ""]
    return "\n".join(lines)


def _plot_metrics(metrics: Mapping[str, Any], path: Path, title: str) -> None:
    # Figure + Agg canvas directly: no pyplot, so no global backend state is touched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    items = [(key, float(v)) for key, v in metrics.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool) and not _NOT_RATES.search(key)]
    fig = Figure(figsize=(7, 0.45 * max(len(items), 2) + 1.2))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if items:
        names = [key for key, _ in items][::-1]
        vals = [v for _, v in items][::-1]
        bars = ax.barh(names, vals, color="#4C72B0")
        for bar, v in zip(bars, vals):
            ax.text(v + 0.01, bar.get_y() + bar.get_height() / 2, f"{v:.3f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.15)
    else:
        ax.text(0.5, 0.5, "no metric measured", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _plot_latency(latencies: Mapping[str, list[float]], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    stages = [(k, v) for k, v in latencies.items() if v]
    fig = Figure(figsize=(7, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if stages:
        ax.boxplot([v for _, v in stages], showmeans=True)
        ax.set_xticks(range(1, len(stages) + 1), [f"{k} (n={len(v)})" for k, v in stages])
        ax.set_ylabel("milliseconds")
        if max(max(v) for _, v in stages) / max(min(min(v) for _, v in stages), 1e-3) > 100:
            ax.set_yscale("log")  # stages of very different scale (retrieval vs generation)
    else:
        ax.text(0.5, 0.5, "no timings recorded", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# -- comparing and gating ---------------------------------------------------------------------


def _summary_dict(summary: Mapping[str, Any] | RunResult) -> dict[str, Any]:
    if isinstance(summary, RunResult):
        return dataclasses.asdict(summary)
    return dict(summary)


def read_summary(run: str | Path) -> dict[str, Any]:
    """summary.json of a run folder (or the file itself)."""
    p = Path(run)
    if p.is_dir():
        p = p / "summary.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no summary.json at {p}; give a run folder written by `rag eval`") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {p}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
        raise InputError(f"{p} is not a run summary (no 'metrics')")
    return data


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not (isinstance(v, float) and math.isnan(v))


def compare_runs(run_a: str | Path, run_b: str | Path) -> list[tuple[str, Any, Any, float | None]]:
    """(metric, value in A, value in B, B − A) for every metric of either run, A's order first."""
    a, b = read_summary(run_a)["metrics"], read_summary(run_b)["metrics"]
    out = []
    for key in list(dict.fromkeys([*a, *b])):
        va, vb = a.get(key), b.get(key)
        out.append((key, va, vb, vb - va if _is_number(va) and _is_number(vb) else None))
    return out


def format_comparison(rows: Sequence[tuple[str, Any, Any, float | None]],
                      labels: tuple[str, str] = ("A", "B")) -> str:
    """An aligned text table of `compare_runs` rows."""
    table = [("metric", labels[0], labels[1], "delta")]
    for key, va, vb, d in rows:
        table.append((key, _fmt(va), _fmt(vb), "–" if d is None else f"{d:+.4f}"))
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
                     for r in table)


def resolve_metric(metrics: Mapping[str, Any], name: str) -> str:
    """The summary's metric name for `name`: itself, an alias (`contains`, `abstention`, …) or
    a family (`recall` → `recall_at_100` when that is the only recall measured)."""
    if name in metrics:
        return name
    if ALIASES.get(name) in metrics:
        return ALIASES[name]
    family = [key for key in metrics if key.startswith(f"{name}_at_")]
    if len(family) == 1:
        return family[0]
    if len(family) > 1:
        raise InputError(f"{name!r} is ambiguous here: {', '.join(family)}")
    raise InputError(f"no metric {name!r} in this run; it has: {', '.join(metrics)}")


def check_thresholds(summary: Mapping[str, Any] | RunResult, minimums: Mapping[str, float],
                     maximums: Mapping[str, float] | None = None) -> list[str]:
    """One message per missed gate (empty when all pass). A gated metric that this run could not
    measure (None, e.g. abstention without unanswerable questions) counts as missed; a name
    this run does not have at all raises InputError."""
    metrics = _summary_dict(summary)["metrics"]
    failures = []
    for gates, below in ((minimums, True), (maximums or {}, False)):
        for name, limit in gates.items():
            key = resolve_metric(metrics, name)
            v = metrics[key]
            if not _is_number(v):
                failures.append(f"{key} was not measured in this run (gate {'≥' if below else '≤'} {limit})")
            elif (v < limit) if below else (v > limit):
                failures.append(f"{key} = {v:.4f} is {'below the minimum' if below else 'above the maximum'} {limit}")
    return failures
