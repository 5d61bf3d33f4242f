"""Question sets and BEIR datasets: load them, check them, and pick the questions of a split.

A question set is JSONL, one object per line (`question`, optional `id`, `answers`, `sources`,
`answerable`, `as_of`). A BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from rag.answer.dates import parse_date
from rag.errors import InputError


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answers: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # document ids as the index names them
    answerable: bool = True
    as_of: str | None = None  # YYYY-MM-DD, the date the question was asked
    history: tuple[str, ...] = ()  # earlier questions of the same chat: `question` is a follow-up


@dataclass(frozen=True)
class BeirData:
    name: str  # the dataset folder's name
    corpus: dict[str, tuple[str, str]]  # _id -> (title, text)
    queries: dict[str, str]  # only queries judged in the split, in qrels order
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: grade}
    split: str = "test"



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
    `id` (default: the line number), `answers`, `sources` (document ids), `answerable`
    (default true; only an explicit `false` makes a question unanswerable) and `as_of` (the date
    the question was asked, YYYY-MM-DD)."""
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
        as_of = rec.get("as_of")
        if as_of is not None:
            if not isinstance(as_of, str):
                raise InputError(f"{where}: 'as_of' must be a date as YYYY-MM-DD")
            try:
                as_of = parse_date(as_of.strip(), "as_of")
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from None
        history = rec.get("history", [])
        if not isinstance(history, list) or not all(isinstance(h, str) and h.strip() for h in history):
            raise InputError(f"{where}: 'history' must be a list of the chat's earlier questions (strings)")
        out.append(Question(id=qid, question=q.strip(), answers=_str_list(rec.get("answers"), "answers", where),
                            sources=_str_list(rec.get("sources"), "sources", where), answerable=answerable,
                            as_of=as_of, history=tuple(h.strip() for h in history)))
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



def select_questions(questions: Sequence[Question], ids_before: str | None = None,
                     ids_from: str | None = None) -> list[Question]:
    """The questions whose id sorts before `ids_before` and/or from `ids_from` on (plain string
    order: ids that start with a date, such as RealTime QA's "20251114_3", split by date)."""
    out = [q for q in questions if (ids_before is None or q.id < ids_before)
           and (ids_from is None or q.id >= ids_from)]
    if not out:
        raise InputError(f"no question id is in the range asked for (before {ids_before!r}, from {ids_from!r})")
    return out


def source_splits(questions: Sequence[Question], ids_before: str) -> dict[str, str]:
    """Each source document's split: "dev" when a question with an id before `ids_before` cites
    it (an article cited by both halves was seen while tuning), else "test"."""
    split: dict[str, str] = {}
    for q in questions:
        part = "dev" if q.id < ids_before else "test"
        for source in q.sources:
            if split.get(source) != "dev":
                split[source] = part
    return split
