"""Build or update an index from folders of articles: load, diff, chunk, embed, store.

Incremental by content: a document whose cleaned text is unchanged keeps its chunks and vectors;
a changed one is re-chunked and re-embedded; a deleted one loses its chunks. Work is keyed by the
content hash, so a renamed file and two identical files cost no embedding (identical files are
indexed once; the second is recorded as a duplicate of the first).

Streaming, in two passes, so memory stays bounded on a folder of any size: the first reads and
cleans every file once to learn each document's id and content hash, and sets aside the
documents whose hash is new (in memory up to KEEP_CHARS of text, past that in an unlinked
temporary file beside the index); after the diff, the second takes those that are added or
changed and chunks, embeds and writes them in bounded batches. All of it happens inside one
write (`GenerationWriter`), so a run stopped at any point leaves the previous index as it was.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from rag.errors import IndexCorruptError, InputError, NoIndexError, RagError
from rag.index.chunking import ChunkingParams
from rag.index.embedding import Embedder, backend_of
from rag.index.passes import (IndexReport, ProgressFn, embed_into, old_passages, read_documents, resolve_embedder,
                              scan_documents)
from rag.index.plan import plan_update
from rag.stores import is_store_url
from rag.stores.local.compaction import compact_generation
from rag.stores.local.generations import (CURRENT, FTS_TOKENIZER, current_generation, newest_readable_manifest,
                                          read_manifest)
from rag.stores.local.reader import IndexReader
from rag.stores.local.writer import GenerationWriter, IndexLock
from rag.types import Chunk, Document


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
    if is_store_url(index_dir):  # optional store: rag/stores/milvus.py
        from rag.index.build_milvus import build_milvus_index

        return build_milvus_index(paths, index_dir, embedder=embedder, backend=backend, params=params,
                                  rebuild=rebuild, progress=progress)
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    roots = [Path(p) for p in paths]
    scan = scan_documents(roots, {} if rebuild else _stored_hashes(index_dir, params), progress, _existing_folder(index_dir))
    if not scan.entries:
        scan.close()
        detail = "; ".join(p.message for p in scan.problems) or "no articles found"
        raise InputError(f"nothing could be indexed ({detail})")
    t_load = time.perf_counter()

    with scan, IndexLock(index_dir):
        # A rebuild reads nothing of the old index, so it works from any damaged state.
        base = current_generation(index_dir) if index_dir.exists() and not rebuild else None
        manifest = read_manifest(base) if base is not None else None
        emb = resolve_embedder(embedder, (manifest or _readable_manifest(index_dir)) if rebuild else manifest,
                                rebuild, backend)
        if manifest is not None and not rebuild:
            if manifest["chunking"] != params.as_dict() or manifest.get("lexical", {}).get("tokenizer") != FTS_TOKENIZER:
                rebuild = True  # another chunking: every chunk changes anyway
        if rebuild:
            base = None

        old: dict[str, tuple[str, str | None]] = {}
        stored_meta: dict[str, tuple[str, str, str]] = {}
        if base is not None:
            reader = IndexReader(index_dir)
            old = {d: (sha, canon) for d, _, sha, canon in reader.documents()}
            stored_meta = reader.document_metadata()
            reader.close()

        plan = plan_update({i: e[0] for i, e in scan.entries.items()}, old, scan.stale(stored_meta))
        wanted, added, changed, removed = plan.wanted, plan.added, plan.changed, plan.removed

        report = dict(index_dir=str(index_dir), added=added, changed=changed,
                      removed=removed, unchanged=plan.unchanged, duplicates=plan.duplicates,
                      problems=tuple(scan.problems), notes=tuple(scan.notes), embedder=emb.name,
                      rebuilt=rebuild)
        if base is not None and plan.nothing_to_do:
            counts = manifest["counts"] if manifest else {"documents": 0, "chunks": 0}
            return IndexReport(documents=counts["documents"], chunks=counts["chunks"],
                               seconds=time.perf_counter() - t0, written=False, **report)  # type: ignore[arg-type]

        writer = GenerationWriter(index_dir, base, emb.dim)
        try:
            # Chunks and vectors of documents about to be dropped can serve a new id with the same text.
            reusable: dict[str, tuple[list, np.ndarray]] = {}
            for sha, doc_id in plan.reusable().items():
                rows = writer.conn.execute(
                    "SELECT id, n, start, end, heading, text FROM chunks WHERE doc_id = ? ORDER BY n",
                    (doc_id,)).fetchall()
                reusable[sha] = (rows, writer.vectors_of([r[0] for r in rows]))
            # A changed document mostly keeps its passages: their vectors serve the new chunks
            # whose passage text is identical (an edit re-embeds only what it touched).
            # (Not those whose text is the same, e.g. only their date changed: `reusable` serves them whole.)
            seen = old_passages(writer, [i for i in changed if old[i][1] is None and old[i][0] != wanted[i][0]])
            writer.remove_documents(list(plan.outgoing))

            todo = list(plan.todo)
            to_embed = plan.to_embed(reusable)
            reused = 0

            def fresh_documents() -> Iterator[Document]:
                """The second pass: every document to add is written; those that need vectors
                are handed on, one at a time, to be chunked and embedded."""
                nonlocal reused
                for d in read_documents(roots, todo, scan):
                    canon = wanted[d.id][1]
                    writer.add_document(d, canon)
                    if canon is not None:
                        continue
                    if d.sha256 in reusable:
                        rows, vecs = reusable.pop(d.sha256)
                        chunks = [Chunk(id=f"{d.id}#{n}", doc_id=d.id, n=n, text=text, start=s, end=e,
                                        heading=h) for _, n, s, e, h, text in rows]
                        writer.add_chunks(d.title, chunks, vecs)
                        reused += len(chunks)
                    else:
                        yield d

            def write(batch: list[tuple[Document, list[Chunk], np.ndarray]]) -> None:
                for doc, cs, vecs in batch:
                    writer.add_chunks(doc.title, cs, vecs)

            embedded, ran = embed_into(write, fresh_documents(), to_embed, emb, params, progress, seen)
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
            raise NoIndexError(f"no index at {index_dir}/ — make one from a folder of articles with `rag index FOLDER`")
        return compact_generation(gen, int(read_manifest(gen)["embedder"]["dim"]))


def indexed_sources(index_dir: str | Path) -> list[Path]:
    """The folders and files the index at `index_dir` was last built from, as recorded in its
    manifest (the newest readable one, so a damaged index still says); [] when none says."""
    index_dir = Path(index_dir)
    manifest = _readable_manifest(index_dir)
    return [Path(p) for p in (manifest or {}).get("sources", [])]


def _readable_manifest(index_dir: Path) -> dict | None:
    """The old index's manifest if any generation's can still be read (a rebuild keeps its
    embedder), else None."""
    return newest_readable_manifest(index_dir) if index_dir.exists() else None


def _existing_folder(path: Path) -> Path:
    """`path` if it is a folder, else its nearest existing parent (where a temporary file can go
    without creating anything)."""
    path = Path(os.path.abspath(path))
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def _stored_hashes(index_dir: Path, params: ChunkingParams) -> dict[str, str]:
    """Document id -> content hash in the live index (empty when there is none, it cannot be read,
    or it was chunked otherwise, so everything will be written again): only a hint for what the
    first pass sets aside; the update itself reads the index again under the writer's lock."""
    if not (index_dir / CURRENT).exists():
        return {}
    try:
        reader = IndexReader(index_dir)
    except RagError:
        return {}
    try:
        if reader.manifest.get("chunking") != params.as_dict():
            return {}
        return {d: sha for d, _, sha, _ in reader.documents()}
    except RagError:
        return {}
    finally:
        reader.close()

