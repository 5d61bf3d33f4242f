"""Build or update an index from folders of articles: load, diff, chunk, embed, store.

Incremental by content: a document whose cleaned text is unchanged keeps its chunks and vectors;
a changed one is re-chunked and re-embedded; a deleted one loses its chunks. Work is keyed by the
content hash, so a renamed file and two identical files cost no embedding (identical files are
indexed once; the second is recorded as a duplicate of the first). New chunks are embedded in
bounded batches so memory stays flat on large corpora.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .chunking import ChunkingParams, chunk_document, passage_text
from .config import DEFAULT_EMBEDDER
from .ingest import Problem, load_documents
from .embedding import Embedder, load_embedder
from .errors import IndexMismatchError, InputError
from .store import FTS_TOKENIZER, GenerationWriter, IndexLock, IndexReader, current_generation, read_manifest
from .types import Chunk, Document

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)

EMBED_BATCH = 2048  # chunks embedded and written per step


@dataclass(frozen=True)
class IndexReport:
    index_dir: str
    documents: int
    chunks: int
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    duplicates: tuple[tuple[str, str], ...] = ()  # (duplicate doc_id, doc_id it repeats)
    embedded_chunks: int = 0
    reused_chunks: int = 0
    problems: tuple[Problem, ...] = ()
    seconds: float = 0.0
    written: bool = False
    rebuilt: bool = False
    embedder: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def build_index(
    paths: Sequence[str | Path] = ("seeds",),
    index_dir: str | Path = "index",
    *,
    embedder: Embedder | str | None = None,
    params: ChunkingParams = ChunkingParams(),
    rebuild: bool = False,
    progress: ProgressFn | None = None,
) -> IndexReport:
    """Make `index_dir` hold exactly the documents found under `paths`.

    Raises InputError when no document at all could be loaded (the existing index is left as
    it was); per-file problems are returned in the report while the other files are indexed.
    """
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    loaded = load_documents([Path(p) for p in paths])
    if not loaded.documents:
        detail = "; ".join(f"{p.path}: {p.message}" for p in loaded.problems) or "no articles found"
        raise InputError(f"nothing could be indexed ({detail})")
    t_load = time.perf_counter()

    with IndexLock(index_dir):
        base = current_generation(index_dir) if index_dir.exists() else None
        manifest = read_manifest(base) if base is not None else None
        emb = _resolve_embedder(embedder, manifest, rebuild)
        if manifest is not None and not rebuild:
            if manifest["chunking"] != params.as_dict() or manifest.get("lexical", {}).get("tokenizer") != FTS_TOKENIZER:
                rebuild = True  # another chunking: every chunk changes anyway
        if rebuild:
            base = None

        old: dict[str, tuple[str, str | None]] = {}
        if base is not None:
            reader = IndexReader(index_dir)
            old = {d: (sha, canon) for d, _, sha, canon in reader.documents()}
            reader.close()

        docs = sorted(loaded.documents, key=lambda d: d.id)
        canonical_of_sha: dict[str, str] = {}
        wanted: dict[str, tuple[Document, str | None]] = {}
        for d in docs:
            canon = canonical_of_sha.setdefault(d.sha256, d.id)
            wanted[d.id] = (d, None if canon == d.id else canon)

        unchanged = {i for i, (d, c) in wanted.items() if old.get(i) == (d.sha256, c)}
        removed = sorted(set(old) - set(wanted))
        changed = sorted(i for i in wanted if i in old and i not in unchanged)
        added = sorted(i for i in wanted if i not in old)
        duplicates = tuple((i, c) for i, (_, c) in sorted(wanted.items()) if c is not None)

        report = dict(index_dir=str(index_dir), added=tuple(added), changed=tuple(changed),
                      removed=tuple(removed), unchanged=len(unchanged), duplicates=duplicates,
                      problems=tuple(loaded.problems), embedder=emb.name, rebuilt=rebuild)
        if base is not None and not removed and not changed and not added:
            counts = manifest["counts"] if manifest else {"documents": 0, "chunks": 0}
            return IndexReport(documents=counts["documents"], chunks=counts["chunks"],
                               seconds=time.perf_counter() - t0, written=False, **report)  # type: ignore[arg-type]

        writer = GenerationWriter(index_dir, base, emb.dim)
        try:
            # Chunks and vectors of documents about to be dropped can serve a new id with the same text.
            reusable: dict[str, tuple[list, np.ndarray]] = {}
            need_shas = {wanted[i][0].sha256 for i in (*added, *changed) if wanted[i][1] is None}
            outgoing = [i for i in (*removed, *changed) if old[i][1] is None and old[i][0] in need_shas]
            for doc_id in outgoing:
                rows = writer.conn.execute(
                    "SELECT id, n, start, end, heading, text FROM chunks WHERE doc_id = ? ORDER BY n",
                    (doc_id,)).fetchall()
                reusable.setdefault(old[doc_id][0], (rows, writer.vectors_of([r[0] for r in rows])))
            writer.remove_documents([*removed, *changed])

            to_embed: list[tuple[Document, list[Chunk]]] = []
            reused = 0
            todo = [wanted[i] for i in (*added, *changed)]
            # Canonical documents first so duplicates can point at rows that exist.
            for d, canon in sorted(todo, key=lambda dc: dc[1] is not None):
                writer.add_document(d, canon)
                if canon is not None:
                    continue
                if d.sha256 in reusable:
                    rows, vecs = reusable[d.sha256]
                    chunks = [Chunk(id=f"{d.id}#{n}", doc_id=d.id, n=n, text=text, start=s, end=e,
                                    heading=h) for _, n, s, e, h, text in rows]
                    writer.add_chunks(d.title, chunks, vecs)
                    reused += len(chunks)
                else:
                    to_embed.append((d, []))

            embedded = _embed_into(writer, to_embed, emb, params, progress)
            t_embed = time.perf_counter()
            final = writer.commit({
                "embedder": {"name": emb.name, "dim": emb.dim, "max_tokens": emb.max_tokens},
                "chunking": params.as_dict(),
                "lexical": {"engine": "sqlite-fts5", "tokenizer": FTS_TOKENIZER, "weights": [0.5, 0.5, 1.0]},
                "sources": [str(Path(p).resolve()) for p in paths],
            })
        except BaseException:
            writer.abort()
            raise
        counts = read_manifest(final)["counts"]
        t_end = time.perf_counter()
        return IndexReport(
            documents=counts["documents"], chunks=counts["chunks"], embedded_chunks=embedded,
            reused_chunks=reused, seconds=t_end - t0, written=True,
            timings={"load_s": t_load - t0, "chunk_embed_s": t_embed - t_load, "write_s": t_end - t_embed},
            **report)  # type: ignore[arg-type]


def _resolve_embedder(embedder: Embedder | str | None, manifest: dict | None, rebuild: bool) -> Embedder:
    built_with = manifest["embedder"]["name"] if manifest else None
    if embedder is None:
        embedder = built_with or DEFAULT_EMBEDDER
    name = embedder if isinstance(embedder, str) else embedder.name
    if built_with and name != built_with and not rebuild:
        raise IndexMismatchError(
            f"the index was built with embedder {built_with!r}, not {name!r}; pass --rebuild to "
            f"re-embed everything with {name!r}, or choose another --index-dir"
        )
    return load_embedder(embedder) if isinstance(embedder, str) else embedder


def _embed_into(writer: GenerationWriter, docs: list[tuple[Document, list[Chunk]]], emb: Embedder,
                params: ChunkingParams, progress: ProgressFn | None) -> int:
    """Chunk and embed `docs` in bounded batches, adding each batch to the writer."""
    total_docs = len(docs)
    pending: list[tuple[Document, list[Chunk]]] = []
    pending_n = 0
    embedded = 0
    for i, (d, _) in enumerate(docs):
        chunks = chunk_document(d, emb.count_tokens, params)
        pending.append((d, chunks))
        pending_n += len(chunks)
        if pending_n >= EMBED_BATCH or i == total_docs - 1:
            texts = [passage_text(doc.title, c.heading, c.text) for doc, cs in pending for c in cs]
            base = embedded

            def report(done: int, total: int, base: int = base, i: int = i) -> None:
                if progress:
                    progress("embedding", base + done, base + total)

            vecs = emb.embed(texts, progress=report) if texts else np.zeros((0, emb.dim), np.float32)
            at = 0
            for doc, cs in pending:
                writer.add_chunks(doc.title, cs, vecs[at:at + len(cs)])
                at += len(cs)
            embedded += len(texts)
            if progress:
                progress("documents", i + 1, total_docs)
            pending, pending_n = [], 0
    return embedded
