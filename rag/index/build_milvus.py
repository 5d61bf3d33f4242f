"""`build_index` into a Milvus store: the local build's two streaming passes, plan and embedding
loop (rag/index/build.py), with the writes of rag/stores/milvus.py."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from rag.errors import InputError
from rag.index.chunking import ChunkingParams
from rag.index.embedding import backend_of
from rag.index.passes import IndexReport, embed_into, read_documents, resolve_embedder, scan_documents
from rag.index.plan import plan_update
from rag.stores.milvus import FORMAT, MilvusStore, StoreURL, quote_list, stored_metadata, write_chunks, write_docs
from rag.types import Chunk, Document


def build_milvus_index(paths: Sequence[str | Path], url: StoreURL | str, *, embedder: Any = None,
                       backend: str | None = None, params: ChunkingParams = ChunkingParams(),
                       rebuild: bool = False, progress: Any = None) -> Any:
    """Make the store hold exactly the documents found under `paths` (see `build.build_index`).

    The same two streaming passes as the local store (`passes.scan_documents`, `passes.read_documents`:
    memory stays bounded on a folder of any size), the same decision of what to add, re-embed,
    remove and reuse (`plan.plan_update`) and the same embedding loop (`passes.embed_into`);
    only the writes differ."""
    t0 = time.perf_counter()
    roots = [Path(p) for p in paths]
    store = MilvusStore(url)
    try:
        manifest = store.manifest()
        if manifest is not None and not store.exists():
            manifest = None
        stored: dict[str, tuple[str, str | None]] = {}
        stored_meta: dict[str, tuple[str, str, str]] = {}
        if manifest is not None and not rebuild:
            store.client.load_collection(store.docs)
            for r in store.query_all(store.docs, ["doc_id", "sha256", "canonical", "url", "date", "publisher"]):
                stored[r["doc_id"]] = (r["sha256"], r["canonical"] or None)
                stored_meta[r["doc_id"]] = (r["url"] or "", r["date"] or "", r["publisher"] or "")
        hint = {d: sha for d, (sha, _) in stored.items()} \
            if manifest is not None and manifest["chunking"] == params.as_dict() else {}
        with scan_documents(roots, hint, progress, Path(tempfile.gettempdir())) as scan:
            if not scan.entries:
                detail = "; ".join(p.message for p in scan.problems) or "no articles found"
                raise InputError(f"nothing could be indexed ({detail})")
            t_load = time.perf_counter()
            emb = resolve_embedder(embedder, manifest, rebuild, backend)
            if manifest is not None and not rebuild and (
                    manifest["chunking"] != params.as_dict() or manifest["embedder"]["dim"] != emb.dim):
                rebuild = True  # another chunking: every chunk changes anyway
            if rebuild or manifest is None:
                store.drop()
                store.create(emb.dim)
                manifest, stored = None, {}
                # Marked as rag's at once: a first build stopped part-way is resumed, not refused.
                store.set_manifest(_manifest(emb, params, paths, {"documents": 0, "indexed_documents": 0,
                                                                  "chunks": 0}, complete=False))
            store.client.load_collection(store.chunks)
            store.client.load_collection(store.docs)

            # Compared as written: the store keeps each field cut to _FIELD_MAX bytes.
            plan = plan_update({i: e[0] for i, e in scan.entries.items()}, stored, scan.stale(stored_meta, stored_metadata))
            report = dict(index_dir=str(store.url), added=plan.added, changed=plan.changed,
                          removed=plan.removed, unchanged=plan.unchanged, duplicates=plan.duplicates,
                          problems=tuple(scan.problems), notes=tuple(scan.notes), embedder=emb.name,
                          rebuilt=manifest is None)
            if manifest is not None and manifest.get("complete", True) and plan.nothing_to_do:
                c = manifest["counts"]
                return IndexReport(documents=c["documents"], chunks=c["chunks"],
                                   seconds=time.perf_counter() - t0, written=False, **report)  # type: ignore[arg-type]

            # Chunks and vectors of outgoing documents can serve a new id with the same text.
            reusable: dict[str, list[dict]] = {}
            for sha, doc_id in plan.reusable().items():
                rows = store.client.query(store.chunks, filter=f"doc_id == {json.dumps(doc_id, ensure_ascii=False)}",
                                          output_fields=["n", "start", "end", "heading", "text", "vec"])
                reusable[sha] = sorted(rows, key=lambda r: r["n"])
            # Document rows go first, then their chunks (a document row always has all its chunks).
            outgoing = list(plan.outgoing)
            for i in range(0, len(outgoing), 500):
                part = quote_list(outgoing[i:i + 500])
                store.client.delete(store.docs, filter=f"doc_id in {part}")
                store.client.delete(store.chunks, filter=f"doc_id in {part}")

            reused = 0
            copies: list[tuple[Document, str | None]] = []

            def fresh_documents() -> Iterable[Document]:
                """The second pass, streamed: duplicates get their document row (in batches),
                documents with reusable chunks are written at once, the rest are handed on."""
                nonlocal reused
                for d in read_documents(roots, plan.todo, scan):
                    canon = plan.wanted[d.id][1]
                    if canon is not None:
                        copies.append((d, canon))
                        if len(copies) >= 500:
                            write_docs(store, copies)
                            copies.clear()
                    elif d.sha256 in reusable:
                        rows = reusable.pop(d.sha256)
                        chunks = [Chunk(id=f"{d.id}#{r['n']}", doc_id=d.id, n=int(r["n"]), text=r["text"],
                                        start=int(r["start"]), end=int(r["end"]), heading=r["heading"] or None)
                                  for r in rows]
                        vecs = np.asarray([r["vec"] for r in rows], dtype=np.float32).reshape(len(rows), emb.dim)
                        write_chunks(store, [(d, c) for c in chunks], vecs)
                        write_docs(store, [(d, None)])
                        reused += len(chunks)
                    else:
                        yield d

            def write(batch: list[tuple[Document, list[Chunk], np.ndarray]]) -> None:
                """A batch's chunk rows, then its document rows."""
                if batch:
                    write_chunks(store, [(d, c) for d, cs, _ in batch for c in cs],
                                  np.concatenate([v for _, _, v in batch]))
                    write_docs(store, [(d, None) for d, _, _ in batch])

            embedded, ran = embed_into(write, fresh_documents(), plan.to_embed(reusable), emb, params, progress)
            write_docs(store, copies)
        # Sealed segments get cached search indexes (milvus-lite rebuilds an unflushed one per search).
        store.client.flush(store.chunks)
        store.client.flush(store.docs)
        t_embed = time.perf_counter()

        counts = {"documents": store.count(store.docs),
                  "indexed_documents": store.count(store.docs, 'canonical == ""'),
                  "chunks": store.count(store.chunks)}
        store.set_manifest(_manifest(emb, params, paths, counts, complete=True))
        t_end = time.perf_counter()
        return IndexReport(
            documents=counts["documents"], chunks=counts["chunks"], embedded_chunks=embedded,
            embedded_texts=ran, reused_chunks=reused, seconds=t_end - t0, written=True,
            timings={"load_s": t_load - t0, "chunk_embed_s": t_embed - t_load, "write_s": t_end - t_embed},
            **report)  # type: ignore[arg-type]
    finally:
        store.close()


def _manifest(emb: Any, params: ChunkingParams, paths: Sequence[str | Path], counts: dict[str, int],
              complete: bool) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "embedder": {"name": emb.name, "dim": emb.dim, "max_tokens": emb.max_tokens,
                     **({"backend": backend_of(emb)} if backend_of(emb) else {})},
        "chunking": params.as_dict(),
        "lexical": {"engine": "milvus-bm25", "field": "lex", "words": "snowball-english"},
        "sources": [str(Path(p).resolve()) for p in paths],
        "counts": counts,
        "complete": complete,  # False while a run is writing, and after one that stopped part-way
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
