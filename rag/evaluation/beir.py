"""Retrieval-only evaluation on a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv).

The dataset is indexed into its own folder (or, given a Milvus store `milvus://HOST:PORT/NAME`, into
its own collection `NAME_beir_<dataset>_chunked` there, so the store's own index is left alone)
and every query is searched; nDCG@10, Recall@100,
MRR@10 and hit@10 are computed the way BEIR does (see rag/evaluation/metrics.py), so the figures can be set
beside published tables. Two setups: the project's own chunking (`chunked`, what the bot really
searches, indexed through `rag.index.build.build_index` like any article folder) and BEIR's own, one
passage per document embedded as `title + " " + text` (`passage`; the one place that writes an
index without the chunker, because that setup has no chunking to speak of).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import DEFAULT_EMBEDDER
from rag.errors import InputError
from rag.evaluation import metrics as M
from rag.evaluation.datasets import BeirData, load_beir
from rag.evaluation.report import RUNS_ROOT, RunResult, environment, finish_run, make_out_dir
from rag.evaluation.runner import ProgressFn
from rag.models import file_sha256

if TYPE_CHECKING:  # pragma: no cover
    from rag.index.embedding import Embedder

QUERY_BATCH = 64  # BEIR queries searched per call
EMBED_BATCH = 1024  # BEIR passages embedded and written per step
PASSAGE_FORMAT = 1  # bump when the passage index layout changes, so old ones are rebuilt

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


def _index_chunked(data: BeirData, index_root: Path, index_dir: "Path | str", embedder: "Embedder | str | None",
                   progress: ProgressFn | None) -> dict[str, Any]:
    """Index the corpus the way the bot indexes articles: a JSONL of the documents (written in
    `index_root`) through `build_index` into `index_dir`, a folder or a Milvus store URL (its
    content diff makes an unchanged corpus cost nothing)."""
    from rag.index.build import build_index

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
            "embedded_chunks": report.embedded_chunks,
            "problems": len(report.problems), "corpus_file": str(jsonl), "duplicates": len(report.duplicates),
            "problem_examples": [p.message for p in report.problems[:3]]}


def _index_passages(data: BeirData, corpus_path: Path, index_dir: Path, embedder: "Embedder | str | None",
                    progress: ProgressFn | None) -> dict[str, Any]:
    """Index one passage per document, embedded as `(title + " " + text).strip()` like BEIR's
    SentenceBERT evaluation; the embedder truncates at its own limit (256 word pieces for
    all-MiniLM-L6-v2), as BEIR and MTEB did. Rebuilt only when the corpus file, the embedder or
    this layout changes."""
    import numpy as np

    from rag.index.embedding import backend_of, default_backend, load_embedder, manifest_backend
    from rag.stores.local.generations import FTS_TOKENIZER, current_generation, read_manifest
    from rag.stores.local.writer import GenerationWriter, IndexLock
    from rag.types import Chunk, Document

    fingerprint = {"dataset": data.name, "setup": "passage", "format": PASSAGE_FORMAT,
                   "corpus_sha256": file_sha256(corpus_path)}
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
    store: str | None = None,
) -> RunResult:
    """Retrieval-only evaluation on a BEIR dataset: nDCG@10, Recall@k, MRR@10, hit@10.

    Scored as BEIR's `EvaluateRetrieval` does: every judged query counts (one without any
    relevant document scores 0), and a document whose id equals the query's id is dropped from
    the ranking (`ignore_identical_ids`, which matters for ArguAna and Quora). In the chunked
    setup a document ranks by its best passage, and documents with identical text (indexed once
    by the project) are put back beside it with the same score.

    Latency is measured apart from the batched scoring run: the first `latency_sample` queries
    are searched one at a time, as a user's question would be.

    `store` (a `milvus://HOST:PORT/NAME` URL): index into and search the collection
    `NAME_beir_<dataset>_chunked` of that Milvus store instead of a folder under `index_root`
    (which still receives the corpus file that is indexed). Chunked setup only.
    """
    from rag.retrieval import open_index

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
    index_dir: Path | str = index_root / f"beir-{label}-{setup}"
    if store is not None:
        from rag.stores.milvus import StoreURL, parse_store_url

        url = parse_store_url(store)
        if url is None:
            raise InputError(f"not a Milvus store URL: {store!r} (milvus://HOST:PORT/COLLECTION)")
        if not chunked:
            raise InputError("the passage setup (--passage) is evaluated on a local index only; "
                             "drop --store, or use the chunked setup on the store")
        # Its own collection beside the named one, as the local run uses its own folder.
        index_dir = str(StoreURL(url.host, url.port, f"{url.collection}_beir_{label}_{setup}".replace("-", "_")))

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
        if getattr(idx, "ranker", None):  # a Milvus store fuses in Milvus with its ranker (or here: "client")
            fusion["milvus_ranker"] = idx.ranker
    finally:
        idx.close()

    name = name or f"beir-{label}-{setup}-{retrieval}"
    out = make_out_dir(out_dir, name, runs_root)
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
        "index_dir": str(index_dir.resolve()) if isinstance(index_dir, Path) else index_dir,
        "store": "milvus" if store is not None else "local", "index_written": built["written"],
        "embedded_chunks": built.get("embedded_chunks"),
        "index_manifest": manifest, "embedder": manifest["embedder"]["name"],
        "retrieval": retrieval, "fusion": fusion if retrieval == "hybrid" else None,
        "k": k, "limit": limit, "query_batch": QUERY_BATCH, "ignore_identical_ids": True,
        **environment(),
    }
    return finish_run("beir", name, out, metrics, counts, settings, warnings, created,
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

