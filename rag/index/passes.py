"""The two streaming passes every store's build shares (rag/index/build.py for the local folder,
rag/index/build_milvus.py for Milvus): the first reads and cleans every file to learn each
document's id and content hash (`scan_documents`, keeping new documents aside in a `Scan`), the
second reads the documents to add or change (`read_documents`); `embed_into` chunks and embeds them
in bounded batches, reusing a vector for a passage text already embedded.
"""

from __future__ import annotations

import hashlib
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from rag.config import DEFAULT_EMBEDDER
from rag.errors import IndexMismatchError, InputError
from rag.index.chunking import ChunkingParams, chunk_document, passage_text
from rag.index.embedding import Embedder, backend_of, default_backend, load_embedder, manifest_backend
from rag.ingest import Problem, iter_documents
from rag.types import Chunk, Document

if TYPE_CHECKING:
    from concurrent.futures import Future

    from rag.stores.local.writer import GenerationWriter

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


def resolve_embedder(embedder: Embedder | str | None, manifest: dict | None, rebuild: bool,
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


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def old_passages(writer: GenerationWriter, doc_ids: list[str]) -> dict[bytes, np.ndarray]:
    """Passage-text key -> vector for the chunks of `doc_ids` (at most SEEN_TEXTS of them)."""
    seen: dict[bytes, np.ndarray] = {}
    for doc_id in doc_ids:
        rows = writer.conn.execute("SELECT id, title, heading, text FROM chunks WHERE doc_id = ?",
                                   (doc_id,)).fetchall()[:max(SEEN_TEXTS - len(seen), 0)]
        if rows:
            vecs = writer.vectors_of([r[0] for r in rows])
            for (_, title, heading, text), vec in zip(rows, vecs):
                seen[text_key(passage_text(title, heading, text))] = vec
    return seen


@dataclass
class _Batch:
    """One step of `embed_into`: documents with their chunks, the passage-text key of each chunk,
    the texts sent to the embedder (`fresh`: key -> row of the result) and the result to come."""

    pending: list[tuple[Document, list[Chunk]]]
    keys: list[bytes]
    fresh: dict[bytes, int]
    future: "Future[np.ndarray] | None"
    vecs: np.ndarray | None = None


def embed_into(write: Callable[[list[tuple[Document, list[Chunk], np.ndarray]]], None],
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
        keys = [text_key(t) for t in texts]
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


class Scan:
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

    def __enter__(self) -> "Scan":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scan_documents(roots: list[Path], stored: dict[str, str], progress: ProgressFn | None, spill_dir: Path) -> Scan:
    """The first pass: read and clean every file once to learn its documents' ids and hashes.

    A document whose hash differs from `stored` (so it will probably be embedded) is set aside
    for the second pass (`Scan.keep`); the others are dropped at once."""
    scan = Scan(spill_dir)
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


def read_documents(roots: list[Path], ids: Sequence[str], scan: Scan) -> Iterator[Document]:
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


