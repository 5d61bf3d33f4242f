"""Find passages for a question: dense (FAISS), lexical (SQLite FTS5 BM25) and their fusion.

`Index` is what `open_index` returns. Fusion is normalized score fusion by default (see
FUSION below for how it was chosen); reciprocal rank fusion is kept for comparison. Passages that
repeat one another across articles (outlets quote each other) are merged into one hit whose
`also_in` names the other documents.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.errors import IndexMismatchError, InputError
from rag.index.embedding import Embedder, backend_of, load_embedder, manifest_backend
from rag.stores import Store, open_store
from rag.stores.base import ChunkRow
from rag.types import Hit

RETRIEVAL_MODES = ("dense", "lexical", "hybrid")
DATE_FILTER_DEPTH = 400  # candidates per ranking when a date filter may drop most of them


@dataclass(frozen=True)
class DateFilter:
    """Documents published from `since` to `until` (ISO dates, both inclusive; either open).
    A document without a known date passes only when `keep_undated` (a range inferred from the
    question's wording is a preference; one the user gave with --since/--until is a rule)."""

    since: str | None = None
    until: str | None = None
    keep_undated: bool = False

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            v = getattr(self, name)
            if v is not None and not _is_iso_date(v):
                raise InputError(f"{name} must be a date as YYYY-MM-DD, not {v!r}")
        if self.since and self.until and self.since > self.until:
            raise InputError(f"since ({self.since}) is after until ({self.until})")

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None

    def admits(self, date: str | None) -> bool:
        if not date:
            return self.keep_undated
        day = date[:10]
        return (self.since is None or day >= self.since) and (self.until is None or day <= self.until)


@dataclass(frozen=True)
class DatePrior:
    """Publication dates as ranking evidence: a passage's fused score gains
    `weight * 0.5 ** (days / half_life_days)`, where `days` is how far its document's date lies
    outside the window [`since`, `until`] (0 inside it; either end open). A document without a
    known date gains nothing, and so does every document when none is dated: the prior is inert on
    an undated corpus. It reorders, it never removes (what may not be used is a `DateFilter`'s job)."""

    since: str | None = None
    until: str | None = None
    weight: float = 0.0
    half_life_days: float = 30.0

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            v = getattr(self, name)
            if v is not None and not _is_iso_date(v):
                raise InputError(f"{name} must be a date as YYYY-MM-DD, not {v!r}")

    @property
    def active(self) -> bool:
        return self.weight > 0 and (self.since is not None or self.until is not None)

    def days_outside(self, date: str | None) -> float | None:
        """How many days `date` lies before or after the window; None when it is not a date."""
        if not date or not _is_iso_date(date[:10]):
            return None
        day = datetime.date.fromisoformat(date[:10])
        if self.since and day < datetime.date.fromisoformat(self.since):
            return float((datetime.date.fromisoformat(self.since) - day).days)
        if self.until and day > datetime.date.fromisoformat(self.until):
            return float((day - datetime.date.fromisoformat(self.until)).days)
        return 0.0

    def closeness(self, date: str | None) -> float:
        """1 inside the window, halving per half-life outside it; 0 for no date or no window."""
        days = self.days_outside(date) if self.since is not None or self.until is not None else None
        if days is None:
            return 0.0
        return 0.5 ** (days / max(self.half_life_days, 1e-9))

    def bonus(self, date: str | None) -> float:
        return self.weight * self.closeness(date) if self.active else 0.0


def _is_iso_date(text: str) -> bool:
    try:
        return len(text) == 10 and bool(datetime.date.fromisoformat(text))
    except ValueError:
        return False


@dataclass(frozen=True)
class Fusion:
    """How dense and lexical rankings are combined. Defaults chosen by measurement (README)."""

    method: str = "nsf"  # "nsf" (normalized score fusion) or "rrf"
    dense_weight: float = 0.5  # nsf: weight of the dense list; lexical gets 1 - this
    rrf_k: int = 60
    depth: int = 100  # candidates taken from each list


FUSION = Fusion()


class Index:
    """An opened index: search it, read its manifest. Its `reader` is the `Store` the index lives
    in (the local folder or Milvus, chosen by `open_store` from `index_dir`)."""

    def __init__(self, index_dir: str | Path = "index", embedder: Embedder | str | None = None,
                 fusion: Fusion = FUSION, ranker: str | None = None) -> None:
        self.reader: Store = open_store(index_dir, ranker=ranker)
        self.manifest = self.reader.manifest
        self.fusion = fusion
        built = self.manifest["embedder"]
        if embedder is not None:
            name = embedder if isinstance(embedder, str) else embedder.name
            dim = None if isinstance(embedder, str) else embedder.dim
            where, flags = self.reader.label, self.reader.rebuild_flags
            if name != built["name"] or (dim is not None and dim != built["dim"]):
                self.reader.close()
                raise IndexMismatchError(
                    f"{where} was built with embedder {built['name']!r} (dimension {built['dim']}), "
                    f"not {name!r}; search with that embedder or rebuild with "
                    f"`rag index --rebuild --embedder {name}{flags}`")
            ours, theirs = backend_of(embedder), manifest_backend(built)
            if ours and theirs and ours != theirs:
                self.reader.close()
                raise IndexMismatchError(
                    f"{where} was embedded with the {theirs!r} backend of {built['name']!r}, not "
                    f"{ours!r}; search with that backend or rebuild with `rag index --rebuild{flags}`")
        self._embedder: Embedder | None = embedder if not isinstance(embedder, str) else None

    @property
    def ranker(self) -> str | None:
        """How the store fuses hybrid search itself (Milvus: "weighted", "rrf" or "client"); None
        for the local store."""
        return getattr(self.reader, "ranker", None)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            built = self.manifest["embedder"]
            self._embedder = load_embedder(built["name"], backend=manifest_backend(built))
            if self._embedder.dim != self.manifest["embedder"]["dim"]:
                raise IndexMismatchError(
                    f"embedder {self._embedder.name!r} now gives dimension {self._embedder.dim}, "
                    f"the index holds {self.manifest['embedder']['dim']}; rebuild with `rag index --rebuild`")
        return self._embedder

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> "Index":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- search --------------------------------------------------------------------------
    def search(self, question: str, k: int = 5, retrieval: str = "hybrid",
               dates: DateFilter | None = None, prior: DatePrior | None = None) -> list[Hit]:
        return self.search_many([question], k=k, retrieval=retrieval, dates=dates, prior=prior)[0]

    def search_many(self, questions: Sequence[str], k: int = 5, retrieval: str = "hybrid",
                    dedupe: bool = True, dates: DateFilter | None = None,
                    prior: DatePrior | None = None) -> list[list[Hit]]:
        """The k best passages per question; with `dates`, only passages of documents published
        in its range (a filter goes deeper into both rankings so that k can still be found); with
        a `prior`, the candidates are reordered by their fused score plus its date bonus (a hit's
        `score` is that sum)."""
        if dates is not None and not dates.active:
            dates = None
        if prior is not None and not prior.active:
            prior = None
        depth = max(k, 1) * 4 if dates is None and prior is None else max(k * 40, DATE_FILTER_DEPTH)
        ranked = self._ranked(questions, depth, retrieval)
        out = []
        for cands in ranked:
            hits = self._hits(cands, k, dedupe, dates, prior)
            out.append(hits)
        return out

    def search_documents(self, questions: Sequence[str], k: int = 100,
                         retrieval: str = "hybrid") -> list[list[tuple[str, float]]]:
        """Documents ranked by their best passage (for document-level benchmarks such as BEIR)."""
        if self._native(retrieval):
            return self._native_documents(questions, k)
        out = []
        for dd, ld in self.document_lists(questions, max(k * 5, self.fusion.depth), retrieval):
            if retrieval == "dense":
                ranked = dd
            elif retrieval == "lexical":
                ranked = ld
            else:
                ranked = [(d, sc) for d, sc, _, _ in fuse(dd, ld, self.fusion)]
            out.append(ranked[:k])
        return out

    def document_lists(self, questions: Sequence[str], depth: int, retrieval: str = "hybrid"
                       ) -> list[tuple[list[tuple[str, float]], list[tuple[str, float]]]]:
        """Per question: the dense and the lexical document rankings, unfused. Each passage
        ranking is reduced to documents (a document scores as its best passage) before any
        fusion, so a document is not counted twice through two of its passages."""
        out = []
        for dl, ll in zip(*self._candidates(questions, depth, retrieval)):
            rows = self.reader.chunk_rows([r for r, _ in dl] + [r for r, _ in ll])
            out.append((_best_per_doc(dl, rows), _best_per_doc(ll, rows)))
        return out

    def _candidates(self, questions: Sequence[str], depth: int, retrieval: str
                    ) -> tuple[list[list[tuple[int, float]]], list[list[tuple[int, float]]]]:
        """Per question: top-`depth` (row id, score) from the dense and the lexical index; an
        empty list for the one the retrieval mode does not use."""
        if retrieval not in RETRIEVAL_MODES:
            raise InputError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, not {retrieval!r}")
        for q in questions:
            if not q or not q.strip():
                raise InputError("the question is empty")
        dense_lists: list[list[tuple[int, float]]] = [[] for _ in questions]
        lex_lists: list[list[tuple[int, float]]] = [[] for _ in questions]
        if retrieval in ("dense", "hybrid"):
            dense_lists = self.reader.dense(self.embedder.embed(list(questions)), depth)
        if retrieval in ("lexical", "hybrid"):
            lex_lists = [self.reader.lexical(q, depth) for q in questions]
        return dense_lists, lex_lists

    def _ranked(self, questions: Sequence[str], depth: int,
                retrieval: str) -> list[list[tuple[int, float, float | None, float | None]]]:
        """Per question: (row id, fused score, dense score, lexical score), best first."""
        if self._native(retrieval):
            return self._native_hybrid(questions, depth, dense_scores=True)
        depth = max(depth, self.fusion.depth) if retrieval == "hybrid" else depth
        out = []
        for dl, ll in zip(*self._candidates(questions, depth, retrieval)):
            if retrieval == "dense":
                out.append([(r, s, s, None) for r, s in dl])
            elif retrieval == "lexical":
                out.append([(r, s, None, s) for r, s in ll])
            else:
                out.append(fuse(dl, ll, self.fusion))
        return out

    def _hits(self, cands: list[tuple[int, float, float | None, float | None]], k: int,
              dedupe: bool, dates: DateFilter | None = None, prior: DatePrior | None = None) -> list[Hit]:
        rows = self.reader.chunk_rows([c[0] for c in cands])
        doc_date = self.reader.doc_dates(r.doc_id for r in rows.values())
        if dates is not None:
            cands = [c for c in cands if dates.admits(doc_date.get(rows[c[0]].doc_id))]
        if prior is not None:
            cands = [(r, s + prior.bonus(doc_date.get(rows[r].doc_id)), ds, ls) for r, s, ds, ls in cands]
            cands.sort(key=lambda c: -c[1])
        kept: list[tuple[ChunkRow, float, float | None, float | None, list[str]]] = []
        shingles: list[set[tuple[str, ...]]] = []
        for rowid, score, ds, ls in cands:
            row = rows[rowid]
            sh = _shingles(row.text)
            dup_of = None
            if dedupe:
                for j, other in enumerate(shingles):
                    if _overlap(sh, other) >= 0.5:
                        dup_of = j
                        break
            if dup_of is not None:
                if row.doc_id != kept[dup_of][0].doc_id and row.doc_id not in kept[dup_of][4]:
                    kept[dup_of][4].append(row.doc_id)
                continue
            if len(kept) < k:
                kept.append((row, score, ds, ls, []))
                shingles.append(sh)
        same_text = self.reader.duplicates_of(r.doc_id for r, *_ in kept)
        return [
            Hit(chunk_id=row.chunk_id, doc_id=row.doc_id, title=row.title, text=row.text,
                start=row.start, end=row.end, score=float(score), heading=row.heading,
                dense_score=ds, lexical_score=ls,
                also_in=tuple(dict.fromkeys([*same_text.get(row.doc_id, []), *also])),
                date=doc_date.get(row.doc_id))
            for row, score, ds, ls, also in kept
        ]

    # -- hybrid search fused by the store itself (Milvus `hybrid_search`) ------------------------
    def _native(self, retrieval: str) -> bool:
        return retrieval == "hybrid" and self.reader.fuses_hybrid

    def _native_hybrid(self, questions: Sequence[str], depth: int,
                       dense_scores: bool) -> list[list[tuple[int, float, float | None, float | None]]]:
        """Milvus-fused candidates; with `dense_scores` each carries its question–passage cosine
        (`Hit.dense_score`, which the extractive answerer weighs), as the local fusion's do."""
        for q in questions:
            if not q or not q.strip():
                raise InputError("the question is empty")
        fused = self.reader.hybrid(self.embedder.embed(list(questions)), questions, n=depth,  # type: ignore[attr-defined]
                                   depth=max(depth, self.fusion.depth), ranker=self.ranker,
                                   dense_weight=self.fusion.dense_weight, rrf_k=self.fusion.rrf_k,
                                   dense_scores=dense_scores)
        return [[(r, s, ds, None) for r, s, ds in row] for row in fused]

    def _native_documents(self, questions: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        depth = max(k * 5, self.fusion.depth)
        out = []
        for cands in self._native_hybrid(questions, depth, dense_scores=False):
            rows = self.reader.chunk_rows([c[0] for c in cands])
            best: dict[str, float] = {}
            for rowid, score, _, _ in cands:
                best.setdefault(rows[rowid].doc_id, score)
            out.append(list(best.items())[:k])
        return out


def fuse(dense: list[tuple[Any, float]], lexical: list[tuple[Any, float]],
         fusion: Fusion = FUSION) -> list[tuple[Any, float, float | None, float | None]]:
    """Combine two ranked lists of (id, score) into one, best first."""
    d = dict(dense[:fusion.depth])
    lx = dict(lexical[:fusion.depth])
    ids = list(dict.fromkeys([*d, *lx]))
    if fusion.method == "rrf":
        drank = {i: r for r, (i, _) in enumerate(dense[:fusion.depth])}
        lrank = {i: r for r, (i, _) in enumerate(lexical[:fusion.depth])}
        scored = [(i, sum(1.0 / (fusion.rrf_k + 1 + rank[i]) for rank in (drank, lrank) if i in rank))
                  for i in ids]
    elif fusion.method == "nsf":
        dn, ln = _minmax(d), _minmax(lx)
        w = fusion.dense_weight
        scored = [(i, w * dn.get(i, 0.0) + (1 - w) * ln.get(i, 0.0)) for i in ids]
    else:
        raise InputError(f"unknown fusion method {fusion.method!r}")
    scored.sort(key=lambda t: -t[1])
    return [(i, s, d.get(i), lx.get(i)) for i, s in scored]


def diversified(hits: Sequence[Hit], k: int, per_document: int = 2) -> list[Hit]:
    """The hits reordered so that the first `k` hold at most `per_document` passages of one
    document (the best ones), the others following in their order. Neighbouring passages of one
    article share a sentence and mostly say the same; a reader checking an answer is better served
    by another article than by a third passage of the first one."""
    first: list[Hit] = []
    later: list[Hit] = []
    count: dict[str, int] = {}
    for h in hits:
        if len(first) < k and count.get(h.doc_id, 0) < per_document:
            first.append(h)
            count[h.doc_id] = count.get(h.doc_id, 0) + 1
        else:
            later.append(h)
    return first + later


def _best_per_doc(ranked: list[tuple[int, float]], rows: dict[int, ChunkRow]) -> list[tuple[str, float]]:
    best: dict[str, float] = {}
    for rowid, score in ranked:  # best first, so the first passage of a document is its best
        best.setdefault(rows[rowid].doc_id, score)
    return list(best.items())


def _minmax(scores: dict[Any, float]) -> dict[Any, float]:
    if not scores:
        return {}
    vals = np.fromiter(scores.values(), dtype=np.float64)
    lo, hi = float(vals.min()), float(vals.max())
    if hi - lo < 1e-12:
        return {i: 1.0 for i in scores}
    return {i: (s - lo) / (hi - lo) for i, s in scores.items()}


def _shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + n]) for i in range(max(len(words) - n + 1, 1))}


def _overlap(a: set, b: set) -> float:
    """Share of the smaller passage's word 5-grams found in the other."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def open_index(index_dir: str | Path = "index", embedder: Embedder | str | None = None) -> Index:
    """The index in `index_dir`, or in the Milvus store when it is a `milvus://HOST:PORT/NAME` URL."""
    return Index(index_dir, embedder)

