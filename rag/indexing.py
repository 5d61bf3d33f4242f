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

import hashlib
import os
import pickle
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .chunking import ChunkingParams, chunk_document, passage_text
from .config import DEFAULT_EMBEDDER
from .embedding import Embedder, backend_of, default_backend, load_embedder, manifest_backend
from .errors import IndexCorruptError, IndexMismatchError, InputError, NoIndexError, RagError
from .ingest import Problem, iter_documents
from .plan import plan_update
from .store import (CURRENT, FTS_TOKENIZER, GenerationWriter, IndexLock, IndexReader, compact_generation, current_generation,
                    newest_readable_manifest, read_manifest)
from .types import Chunk, Document

if TYPE_CHECKING:
    from concurrent.futures import Future

ProgressFn = Callable[[str, int, int], None]  # (stage, done, total)

EMBED_BATCH = 2048  # chunks embedded and written per step
SEEN_TEXTS = 20_000  # passage vectors kept for reuse within one run (about 30 MB at 384 dims)
KEEP_CHARS = 16_000_000  # cleaned text the first pass keeps in memory for the second (16-64 MB)


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
    notes: tuple[Problem, ...] = ()  # decisions taken reading files (an encoding detected, NULs dropped)
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

        return build_milvus_index(paths, index_dir, embedder=embedder, backend=backend, params=params,
                                  rebuild=rebuild, progress=progress)
    t0 = time.perf_counter()
    index_dir = Path(index_dir)
    roots = [Path(p) for p in paths]
    scan = _scan(roots, {} if rebuild else _stored_hashes(index_dir, params), progress, _existing_folder(index_dir))
    if not scan.entries:
        scan.close()
        detail = "; ".join(p.message for p in scan.problems) or "no articles found"
        raise InputError(f"nothing could be indexed ({detail})")
    t_load = time.perf_counter()

    with scan, IndexLock(index_dir):
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
            seen = _old_passages(writer, [i for i in changed if old[i][1] is None and old[i][0] != wanted[i][0]])
            writer.remove_documents(list(plan.outgoing))

            todo = list(plan.todo)
            to_embed = plan.to_embed(reusable)
            reused = 0

            def fresh_documents() -> Iterator[Document]:
                """The second pass: every document to add is written; those that need vectors
                are handed on, one at a time, to be chunked and embedded."""
                nonlocal reused
                for d in _documents(roots, todo, scan):
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

            embedded, ran = _embed_into(write, fresh_documents(), to_embed, emb, params, progress, seen)
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


@dataclass
class _Batch:
    """One step of `_embed_into`: documents with their chunks, the passage-text key of each chunk,
    the texts sent to the embedder (`fresh`: key -> row of the result) and the result to come."""

    pending: list[tuple[Document, list[Chunk]]]
    keys: list[bytes]
    fresh: dict[bytes, int]
    future: "Future[np.ndarray] | None"
    vecs: np.ndarray | None = None


def _embed_into(write: Callable[[list[tuple[Document, list[Chunk], np.ndarray]]], None],
                docs: Iterable[Document], total_docs: int, emb: Embedder, params: ChunkingParams,
                progress: ProgressFn | None, seen: dict[bytes, np.ndarray] | None = None) -> tuple[int, int]:
    """Chunk and embed `docs` (`total_docs` of them) in bounded batches, handing each batch to
    `write` as (document, its chunks, their vectors); at most two batches of documents are held at
    a time. Both stores write through this: the local generation writer and the Milvus store.

    The embedder runs on a worker thread while this one reads, cleans and chunks the next batch
    and writes the previous one (model calls release the GIL; SQLite stays on this thread), so
    the cores are not idle between batches.

    Returns (chunks given vectors, texts run through the embedder): a passage text seen before in
    this run (a repeated paragraph, a file of one repeated sentence, an unchanged passage of an
    edited document: `seen`) reuses its vector. The memory
    for that is bounded by SEEN_TEXTS vectors; past it, only repeats within a batch are caught.
    """
    from concurrent.futures import ThreadPoolExecutor

    seen = {} if seen is None else seen
    counts = {"embedded": 0, "ran": 0, "docs": 0, "started": 0}

    def start(pending: list[tuple[Document, list[Chunk]]], inflight: _Batch | None,
              pool: ThreadPoolExecutor) -> _Batch:
        texts = [passage_text(doc.title, c.heading, c.text) for doc, cs in pending for c in cs]
        keys = [_text_key(t) for t in texts]
        fresh: dict[bytes, int] = {}  # key -> row in `new_texts`
        new_texts = []
        for k, t in zip(keys, texts):
            if k not in seen and k not in fresh and (inflight is None or k not in inflight.fresh):
                fresh[k] = len(new_texts)
                new_texts.append(t)
        base, scale = counts["started"], len(texts) / max(len(new_texts), 1)
        counts["started"] += len(texts)

        def report(done: int, total: int) -> None:
            if progress:  # in chunks, so the bar ends at the chunk count
                progress("embedding", base + round(done * scale), base + len(texts))

        future = pool.submit(emb.embed, new_texts, progress=report) if new_texts else None
        counts["ran"] += len(new_texts)
        return _Batch(list(pending), keys, fresh, future)

    def finish(batch: _Batch, before: _Batch | None, last: bool) -> None:
        """Wait for `batch`'s vectors and write it; `before` is the batch finished just before,
        whose new vectors may serve this one's repeats."""
        batch.vecs = batch.future.result() if batch.future is not None else np.zeros((0, emb.dim), np.float32)

        def vector(k: bytes) -> np.ndarray:
            if k in batch.fresh:
                return batch.vecs[batch.fresh[k]]  # type: ignore[index]
            if before is not None and k in before.fresh:
                return before.vecs[before.fresh[k]]  # type: ignore[index]
            return seen[k]

        vecs = np.stack([vector(k) for k in batch.keys]) if batch.keys else np.zeros((0, emb.dim), np.float32)
        for k, row in batch.fresh.items():
            if len(seen) >= SEEN_TEXTS:
                break
            seen.setdefault(k, batch.vecs[row])
        at, out = 0, []
        for doc, cs in batch.pending:
            out.append((doc, cs, vecs[at:at + len(cs)]))
            at += len(cs)
        write(out)
        counts["embedded"] += len(batch.keys)
        counts["docs"] += len(batch.pending)
        batch.pending = []  # written: only its new vectors are kept, for the next batch's repeats
        if progress:
            if last:
                progress("embedding", counts["embedded"], counts["embedded"])
            progress("documents", counts["docs"], total_docs)

    pending: list[tuple[Document, list[Chunk]]] = []
    pending_n = 0
    inflight: _Batch | None = None  # being embedded on the worker
    queued: _Batch | None = None  # waiting for the worker
    done: _Batch | None = None  # the batch written last
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-index") as pool:
        try:
            for d in docs:
                chunks = chunk_document(d, emb.count_tokens, params)
                pending.append((d, chunks))
                pending_n += len(chunks)
                if pending_n >= EMBED_BATCH:
                    queued = start(pending, inflight, pool)
                    pending.clear()
                    pending_n = 0
                    if inflight is not None:
                        finish(inflight, done, last=False)
                        done = inflight
                    inflight = queued
            queued = start(pending, inflight, pool) if pending else None
            if inflight is not None:
                finish(inflight, done, last=queued is None)
                done = inflight
            if queued is not None:
                finish(queued, done, last=True)
        except BaseException:  # do not leave queued work running after an error or Ctrl-C
            for b in (inflight, queued):
                if b is not None and b.future is not None:
                    b.future.cancel()
            raise
    return counts["embedded"], counts["ran"]


class _Scan:
    """What the first pass learned: each document's content hash and file, the problems and notes
    met on the way, and the documents the second pass will probably need: in memory while their
    text stays under KEEP_CHARS, past that in an unlinked temporary file beside the index (so
    that memory stays bounded and no file is read and cleaned twice). A context manager: leaving
    it closes (and so frees) that file."""

    def __init__(self, spill_dir: Path) -> None:
        self.entries: dict[str, tuple[str, str, tuple[str, str, str]]] = {}  # doc id -> (sha256, file, metadata)
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []
        self.kept: dict[str, Document] = {}
        self._budget = KEEP_CHARS
        self._spill_dir = spill_dir
        self._spill: IO[bytes] | None = None
        self._spilled: dict[str, tuple[int, int]] = {}  # doc id -> (offset, length)

    def stale(self, stored: Mapping[str, tuple[str, str, str]],
              as_kept: Callable[[tuple[str, str, str]], tuple[str, str, str]] = lambda m: m) -> set[str]:
        """The documents found whose metadata differs from what a store holds (`stored`), compared
        in the form the store keeps it (`as_kept`: e.g. fields cut to the store's length)."""
        return {i for i, e in self.entries.items() if i in stored and stored[i] != as_kept(e[2])}

    def keep(self, doc: Document) -> None:
        size = len(doc.text) + len(doc.title)
        if size <= self._budget:
            self.kept[doc.id] = doc
            self._budget -= size
            return
        if self._spill is None:
            self._spill = tempfile.TemporaryFile(prefix=".rag-spill-", dir=self._spill_dir)
        data = pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)
        self._spilled[doc.id] = (self._spill.tell(), len(data))
        self._spill.write(data)

    def spilled(self, ids: set[str]) -> Iterator[Document]:
        """The set-aside documents among `ids`, in the order they were written."""
        assert self._spill is not None or not self._spilled
        for doc_id, (offset, length) in sorted(self._spilled.items(), key=lambda kv: kv[1][0]):
            if doc_id in ids:
                self._spill.seek(offset)  # type: ignore[union-attr]
                yield pickle.loads(self._spill.read(length))  # type: ignore[union-attr]

    def close(self) -> None:
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        self._spilled.clear()
        self.kept.clear()

    def __enter__(self) -> "_Scan":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scan(roots: list[Path], stored: dict[str, str], progress: ProgressFn | None, spill_dir: Path) -> _Scan:
    """The first pass: read and clean every file once to learn its documents' ids and hashes.

    A document whose hash differs from `stored` (so it will probably be embedded) is set aside
    for the second pass (`_Scan.keep`); the others are dropped at once."""
    scan = _Scan(spill_dir)
    files = 0
    try:
        for result in iter_documents(roots):
            scan.problems.extend(result.problems)
            scan.notes.extend(result.notes)
            for d in result.documents:
                scan.entries[d.id] = (d.sha256, result.path, d.metadata)
                if stored.get(d.id) != d.sha256:
                    scan.keep(d)
            if result.counted:
                files += 1
                if progress:
                    progress("reading", files, files)
    except BaseException:
        scan.close()
        raise
    return scan


def _documents(roots: list[Path], ids: Sequence[str], scan: _Scan) -> Iterator[Document]:
    """The second pass: the documents `ids`, each once: those the first pass set aside, then any
    other (a document unchanged but now a duplicate of another, or no longer one) read again
    from its file (only those files are read).

    A document whose file changed or went between the two passes is an InputError (the caller
    aborts its write, so nothing of this run is kept and the previous index stays as it was)."""
    left = set(ids)
    for doc_id in sorted(left & scan.kept.keys()):
        left.discard(doc_id)
        yield scan.kept.pop(doc_id)
    for d in scan.spilled(left):
        left.discard(d.id)
        yield d
    files = {scan.entries[i][1] for i in left}
    if files:
        for result in iter_documents(roots, only=files):
            for d in result.documents:
                if d.id not in left or scan.entries[d.id][1] != result.path:
                    continue
                if d.sha256 != scan.entries[d.id][0]:
                    raise InputError(f"{result.path} changed while it was being indexed; nothing was "
                                     f"written: run `rag index` again")
                left.discard(d.id)
                yield d
    if left:
        first = min(left)
        raise InputError(f"{scan.entries[first][1]} ({first}) could not be read again while it was being "
                         f"indexed (moved, deleted or changed); nothing was written: run `rag index` again")


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
