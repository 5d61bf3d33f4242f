"""Build or update an index from folders of articles: load, diff, chunk, embed, store.

Incremental by content: a document whose cleaned text is unchanged keeps its chunks and vectors;
a changed one is re-chunked and re-embedded; a deleted one loses its chunks. Work is keyed by the
content hash, so a renamed file and two identical files cost no embedding (identical files are
indexed once; the second is recorded as a duplicate of the first). New chunks are embedded in
bounded batches so memory stays flat on large corpora.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .chunking import ChunkingParams, chunk_document, passage_text
from .config import DEFAULT_EMBEDDER
from .embedding import Embedder, backend_of, default_backend, load_embedder, manifest_backend
from .errors import IndexCorruptError, IndexMismatchError, InputError, NoIndexError
from .ingest import Problem, load_documents
from .store import (FTS_TOKENIZER, GenerationWriter, IndexLock, IndexReader, compact_generation, current_generation,
                    newest_readable_manifest, read_manifest)
from .types import Chunk, Document

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)

EMBED_BATCH = 2048  # chunks embedded and written per step
SEEN_TEXTS = 20_000  # passage vectors kept for reuse within one run (about 30 MB at 384 dims)


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
    embedded_chunks: int = 0  # new chunks given vectors
    embedded_texts: int = 0  # distinct passage texts actually run through the embedder for them
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
    backend: str | None = None,
    params: ChunkingParams = ChunkingParams(),
    rebuild: bool = False,
    progress: ProgressFn | None = None,
) -> IndexReport:
    """Make `index_dir` hold exactly the documents found under `paths`.

    Raises InputError when no document at all could be loaded (the existing index is left as
    it was); per-file problems are returned in the report while the other files are indexed.
    """
    if str(index_dir).lower().startswith("milvus:"):  # optional store: rag/milvus_store.py
        from .milvus_store import build_milvus_index

        return build_milvus_index(paths, index_dir, embedder=embedder, params=params, rebuild=rebuild,
                                  progress=progress)
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    loaded = load_documents([Path(p) for p in paths])
    if not loaded.documents:
        detail = "; ".join(f"{p.path}: {p.message}" for p in loaded.problems) or "no articles found"
        raise InputError(f"nothing could be indexed ({detail})")
    t_load = time.perf_counter()

    with IndexLock(index_dir):
        # A rebuild reads nothing of the old index, so it works from any damaged state.
        base = current_generation(index_dir) if index_dir.exists() and not rebuild else None
        manifest = read_manifest(base) if base is not None else None
        emb = _resolve_embedder(embedder, (manifest or _readable_manifest(index_dir)) if rebuild else manifest,
                                rebuild, backend)
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
            # A changed document mostly keeps its passages: their vectors serve the new chunks
            # whose passage text is identical (an edit re-embeds only what it touched).
            seen = _old_passages(writer, [i for i in changed if old[i][1] is None])
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

            embedded, ran = _embed_into(writer, to_embed, emb, params, progress, seen)
            t_embed = time.perf_counter()
            final = writer.commit({
                "embedder": {"name": emb.name, "dim": emb.dim, "max_tokens": emb.max_tokens,
                             **({"backend": backend_of(emb)} if backend_of(emb) else {})},
                "chunking": params.as_dict(),
                "lexical": {"engine": "sqlite-fts5", "tokenizer": FTS_TOKENIZER, "weights": [0.5, 0.5, 1.0]},
                "sources": [str(Path(p).resolve()) for p in paths],
            })
        except sqlite3.DatabaseError as exc:
            writer.abort()
            raise IndexCorruptError(f"cannot update {index_dir}/: {exc}; rebuild it from its source files "
                                    f"with `rag index FOLDER --rebuild`") from exc
        except BaseException:
            writer.abort()
            raise
        counts = read_manifest(final)["counts"]
        t_end = time.perf_counter()
        return IndexReport(
            documents=counts["documents"], chunks=counts["chunks"], embedded_chunks=embedded,
            embedded_texts=ran, reused_chunks=reused, seconds=t_end - t0, written=True,
            timings={"load_s": t_load - t0, "chunk_embed_s": t_embed - t_load, "write_s": t_end - t_embed},
            **report)  # type: ignore[arg-type]


def compact_index(index_dir: str | Path) -> dict:
    """Fold the vectors of recent updates into a new immutable base file (`rag index --compact`)."""
    index_dir = Path(index_dir)
    with IndexLock(index_dir):
        gen = current_generation(index_dir)
        if gen is None:
            raise NoIndexError(f"no index at {index_dir}/ — build one with `rag index seeds/`")
        return compact_generation(gen, int(read_manifest(gen)["embedder"]["dim"]))


def _readable_manifest(index_dir: Path) -> dict | None:
    """The old index's manifest if any generation's can still be read (a rebuild keeps its
    embedder), else None."""
    return newest_readable_manifest(index_dir) if index_dir.exists() else None


def _resolve_embedder(embedder: Embedder | str | None, manifest: dict | None, rebuild: bool,
                      backend: str | None = None) -> Embedder:
    """The embedder for this run: the one asked for, else the one the index was built with.

    An existing index keeps its backend unless another is asked for explicitly; a different name
    or backend without `rebuild` is an IndexMismatchError (vectors are never mixed)."""
    built_with = manifest["embedder"]["name"] if manifest else None
    built_backend = manifest_backend(manifest["embedder"]) if manifest else None
    if embedder is None:
        embedder = built_with or DEFAULT_EMBEDDER
    name = embedder if isinstance(embedder, str) else embedder.name
    if isinstance(embedder, str):
        if backend is None:
            backend = built_backend if (name == built_with and not rebuild) else default_backend(name)
    else:
        backend = backend_of(embedder)
    if built_with and name != built_with and not rebuild:
        raise IndexMismatchError(
            f"the index was built with embedder {built_with!r}, not {name!r}; pass --rebuild to "
            f"re-embed everything with {name!r}, or choose another --index-dir"
        )
    if built_backend and backend and backend != built_backend and not rebuild:
        raise IndexMismatchError(
            f"the index was embedded with the {built_backend!r} backend of {name!r}, not "
            f"{backend!r}; their vectors differ slightly, so they are not mixed: pass --rebuild to "
            f"re-embed everything, or choose another --index-dir"
        )
    return load_embedder(embedder, backend=backend) if isinstance(embedder, str) else embedder


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _old_passages(writer: GenerationWriter, doc_ids: list[str]) -> dict[bytes, np.ndarray]:
    """Passage-text key -> vector for the chunks of `doc_ids` (at most SEEN_TEXTS of them)."""
    seen: dict[bytes, np.ndarray] = {}
    for doc_id in doc_ids:
        rows = writer.conn.execute("SELECT id, title, heading, text FROM chunks WHERE doc_id = ?",
                                   (doc_id,)).fetchall()[:max(SEEN_TEXTS - len(seen), 0)]
        if rows:
            vecs = writer.vectors_of([r[0] for r in rows])
            for (_, title, heading, text), vec in zip(rows, vecs):
                seen[_text_key(passage_text(title, heading, text))] = vec
    return seen


def _embed_into(writer: GenerationWriter, docs: list[tuple[Document, list[Chunk]]], emb: Embedder,
                params: ChunkingParams, progress: ProgressFn | None,
                seen: dict[bytes, np.ndarray] | None = None) -> tuple[int, int]:
    """Chunk and embed `docs` in bounded batches, adding each batch to the writer.

    Returns (chunks given vectors, texts run through the embedder): a passage text seen before in
    this run (a repeated paragraph, a file of one repeated sentence, an unchanged passage of an
    edited document: `seen`) reuses its vector. The memory
    for that is bounded by SEEN_TEXTS vectors; past it, only repeats within a batch are caught.
    """
    total_docs = len(docs)
    pending: list[tuple[Document, list[Chunk]]] = []
    pending_n = 0
    embedded = ran = 0
    seen = {} if seen is None else seen
    for i, (d, _) in enumerate(docs):
        chunks = chunk_document(d, emb.count_tokens, params)
        pending.append((d, chunks))
        pending_n += len(chunks)
        if pending_n >= EMBED_BATCH or i == total_docs - 1:
            texts = [passage_text(doc.title, c.heading, c.text) for doc, cs in pending for c in cs]
            keys = [_text_key(t) for t in texts]
            fresh: dict[bytes, int] = {}  # key -> row in `new_texts`
            new_texts = []
            for k, t in zip(keys, texts):
                if k not in seen and k not in fresh:
                    fresh[k] = len(new_texts)
                    new_texts.append(t)
            base, scale = embedded, len(texts) / max(len(new_texts), 1)

            def report(done: int, total: int, base: int = base, scale: float = scale) -> None:
                if progress:  # in chunks, so the bar ends at the chunk count
                    progress("embedding", base + round(done * scale), base + len(texts))

            new_vecs = emb.embed(new_texts, progress=report) if new_texts else np.zeros((0, emb.dim), np.float32)
            vecs = np.stack([new_vecs[fresh[k]] if k in fresh else seen[k] for k in keys]) if keys \
                else np.zeros((0, emb.dim), np.float32)
            for k, row in fresh.items():
                if len(seen) >= SEEN_TEXTS:
                    break
                seen[k] = new_vecs[row]
            at = 0
            for doc, cs in pending:
                writer.add_chunks(doc.title, cs, vecs[at:at + len(cs)])
                at += len(cs)
            embedded += len(texts)
            ran += len(new_texts)
            if progress:
                progress("embedding", embedded, embedded)
                progress("documents", i + 1, total_docs)
            pending, pending_n = [], 0
    return embedded, ran
