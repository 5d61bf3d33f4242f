"""Everything under the index folder: write it atomically, open it, check what it claims to be.

Layout::

    index/
      CURRENT            name of the live generation (replaced atomically)
      .lock              held (flock) by the one process writing
      gen-000007/
        manifest.json    format version, embedder name and dimension, chunking, counts
        chunks.sqlite    documents, chunks, and an FTS5 lexical index over the chunks
        vectors.faiss    normalized vectors, exact inner-product search, ids = chunk row ids

A write never touches the live generation: it copies it into a temporary folder, applies the
change there, fsyncs, renames the folder into place and only then points CURRENT at it. A run
killed at any moment leaves CURRENT naming the previous, intact generation; its leftovers are
removed by the next writer. Readers need no lock: an old generation deleted while a reader has
it open stays readable until the reader closes it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import IndexBusyError, IndexCorruptError, IndexMismatchError, NoIndexError
from .types import Chunk, Document

FORMAT_VERSION = 1
CURRENT = "CURRENT"
LOCK = ".lock"
DB = "chunks.sqlite"
VECTORS = "vectors.faiss"
MANIFEST = "manifest.json"
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

_SCHEMA = f"""
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    url TEXT, date TEXT, publisher TEXT,
    canonical TEXT  -- NULL for a document indexed itself; else the doc_id whose chunks it shares
);
CREATE INDEX documents_sha ON documents(sha256);
CREATE INDEX documents_canonical ON documents(canonical);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,  -- also the vector's id in FAISS
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    title TEXT NOT NULL,
    heading TEXT,
    text TEXT NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    title, heading, text, content='chunks', content_rowid='id', tokenize='{FTS_TOKENIZER}'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, title, heading, text) VALUES (new.id, new.title, new.heading, new.text);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, title, heading, text)
    VALUES ('delete', old.id, old.title, old.heading, old.text);
END;
"""

# Words too common to help a lexical match; kept short on purpose (names and numbers matter).
STOPWORDS = frozenset("""
a an and are as at be been being but by can could did do does for from had has have he her his
how i if in into is it its me my no nor not of on or our she so than that the their them then
there these they this those to too was we were what when where which while who whom why will
with would you your about after again against all also any because before between both during
each few further here just more most only other own same should some such through under until
up very s t don said says according
""".split())


@dataclass(frozen=True)
class ChunkRow:
    rowid: int
    chunk_id: str
    doc_id: str
    n: int
    start: int
    end: int
    title: str
    heading: str | None
    text: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def current_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexCorruptError(f"cannot read {pointer}: {exc}") from exc
    if not re.fullmatch(r"gen-\d+", name):
        raise IndexCorruptError(f"{pointer} names no generation; rebuild with `rag index --rebuild`")
    gen = index_dir / name
    if not gen.is_dir():
        raise IndexCorruptError(f"{pointer} names {name}, which is missing; rebuild with `rag index --rebuild`")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((gen / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorruptError(f"unreadable manifest in {gen}: {exc}; rebuild with `rag index --rebuild`") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {gen.parent} has format {manifest.get('format_version')}, this version reads "
            f"{FORMAT_VERSION}; rebuild it with `rag index --rebuild`"
        )
    return manifest


class IndexReader:
    """A read-only view of one generation."""

    def __init__(self, index_dir: Path) -> None:
        index_dir = Path(index_dir)
        gen = current_generation(index_dir)
        if gen is None:
            raise NoIndexError(f"no index at {index_dir}/ — build one with `rag index seeds/`")
        self.index_dir = index_dir
        self.gen = gen
        self.manifest = read_manifest(gen)
        try:
            self.conn = sqlite3.connect(f"file:{gen / DB}?mode=ro&immutable=1", uri=True,
                                        check_same_thread=False)
            self.conn.execute("SELECT count(*) FROM chunks").fetchone()
        except sqlite3.Error as exc:
            raise IndexCorruptError(f"cannot read {gen / DB}: {exc}; rebuild with `rag index --rebuild`") from exc
        self._vectors: Any = None

    # -- vectors -------------------------------------------------------------------------
    @property
    def vectors(self) -> Any:
        if self._vectors is None:
            import faiss

            try:
                self._vectors = faiss.read_index(str(self.gen / VECTORS))
            except RuntimeError as exc:
                raise IndexCorruptError(f"cannot read {self.gen / VECTORS}: {exc}; rebuild with `rag index --rebuild`") from exc
            if self._vectors.ntotal != self.manifest["counts"]["chunks"]:
                raise IndexCorruptError(
                    f"{self.gen} holds {self._vectors.ntotal} vectors for "
                    f"{self.manifest['counts']['chunks']} chunks; rebuild with `rag index --rebuild`"
                )
        return self._vectors

    def dense(self, query_vectors: np.ndarray, n: int) -> list[list[tuple[int, float]]]:
        """Top-n (row id, cosine) per query vector."""
        if self.manifest["counts"]["chunks"] == 0:
            return [[] for _ in range(len(query_vectors))]
        scores, ids = self.vectors.search(np.ascontiguousarray(query_vectors, dtype=np.float32),
                                          min(n, self.vectors.ntotal))
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    # -- lexical -------------------------------------------------------------------------
    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:
        """Top-n (row id, BM25 score, higher is better) from the FTS5 index."""
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        w = self.manifest.get("lexical", {}).get("weights", [0.5, 0.5, 1.0])
        rows = self.conn.execute(
            "SELECT rowid, bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY s LIMIT ?", (*w, match, n)).fetchall()
        return [(int(r), -float(s)) for r, s in rows]

    def doc_freq(self, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks contain each term (prefix match after the index's own stemming)."""
        out = {}
        for t in terms:
            if not re.fullmatch(r"\w+", t):
                continue
            row = self.conn.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?",
                                    (f'"{t}"*',)).fetchone()
            out[t] = int(row[0])
        return out

    # -- rows ----------------------------------------------------------------------------
    def chunk_rows(self, rowids: Sequence[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        ids = list(rowids)
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = ",".join("?" * len(part))
            for r in self.conn.execute(
                f"SELECT id, chunk_id, doc_id, n, start, end, title, heading, text FROM chunks WHERE id IN ({q})",
                part,
            ):
                out[r[0]] = ChunkRow(*r)
        return out

    def chunks_of(self, doc_id: str) -> list[ChunkRow]:
        return [ChunkRow(*r) for r in self.conn.execute(
            "SELECT id, chunk_id, doc_id, n, start, end, title, heading, text FROM chunks "
            "WHERE doc_id = ? ORDER BY n", (doc_id,))]

    def document_text(self, doc_id: str) -> str:
        row = self.conn.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return str(row[0])

    def doc_dates(self, doc_ids: Iterable[str]) -> dict[str, str | None]:
        """Publication date (ISO YYYY-MM-DD) of each document, None where none was found."""
        ids = list(dict.fromkeys(doc_ids))
        out: dict[str, str | None] = {d: None for d in ids}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = ",".join("?" * len(part))
            for doc_id, date in self.conn.execute(f"SELECT doc_id, date FROM documents WHERE doc_id IN ({q})", part):
                out[doc_id] = date or None
        return out

    def documents(self) -> list[tuple[str, str, str, str | None]]:
        """(doc_id, title, sha256, canonical) for every document, sorted by id."""
        return [tuple(r) for r in self.conn.execute(  # type: ignore[misc]
            "SELECT doc_id, title, sha256, canonical FROM documents ORDER BY doc_id")]

    def duplicates_of(self, doc_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(set(doc_ids))
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        out: dict[str, list[str]] = {}
        for dup, canon in self.conn.execute(
                f"SELECT doc_id, canonical FROM documents WHERE canonical IN ({q}) ORDER BY doc_id", ids):
            out.setdefault(canon, []).append(dup)
        return out

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.gen.iterdir() if p.is_file())

    def close(self) -> None:
        self.conn.close()


def query_terms(text: str) -> list[str]:
    """Lower-cased word tokens minus stopwords, deduplicated, in order."""
    seen: dict[str, None] = {}
    for t in re.findall(r"\w+", text.lower()):
        if t not in STOPWORDS and t not in seen:
            seen[t] = None
    return list(seen)


class IndexLock:
    """An exclusive, non-blocking flock on `index/.lock`: one writer at a time."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / LOCK
        self._fh: Any = None

    def __enter__(self) -> "IndexLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._fh.close()
            raise IndexBusyError(
                f"another `rag index` is writing {self.path.parent}/; wait for it to finish"
            ) from exc
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()


class GenerationWriter:
    """Builds the next generation in a temporary folder; `commit()` makes it live atomically.

    Must be used while holding `IndexLock`. Without `commit()` nothing visible changes.
    """

    def __init__(self, index_dir: Path, base: Path | None, dim: int) -> None:
        import faiss

        self.index_dir = Path(index_dir)
        self._cleanup_leftovers()
        self.tmp = self.index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
        self.tmp.mkdir(parents=True)
        if base is not None:
            shutil.copyfile(base / DB, self.tmp / DB)
            self.vectors = faiss.read_index(str(base / VECTORS))
            if self.vectors.d != dim:
                raise IndexMismatchError(f"vectors in {base} have dimension {self.vectors.d}, expected {dim}")
        else:
            self.vectors = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.conn = sqlite3.connect(self.tmp / DB)
        # Durability comes from fsync + rename at commit; inside the scratch copy, speed wins.
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        if base is None:
            self.conn.executescript(_SCHEMA)

    def _cleanup_leftovers(self) -> None:
        if not self.index_dir.is_dir():
            return
        for p in self.index_dir.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)

    def doc_rowids(self, doc_ids: Sequence[str]) -> list[int]:
        out: list[int] = []
        for i in range(0, len(doc_ids), 500):
            part = list(doc_ids[i:i + 500])
            q = ",".join("?" * len(part))
            out += [r[0] for r in self.conn.execute(f"SELECT id FROM chunks WHERE doc_id IN ({q})", part)]
        return out

    def remove_documents(self, doc_ids: Sequence[str]) -> int:
        """Drop documents and their chunks and vectors; returns how many chunks went."""
        import faiss

        rowids = self.doc_rowids(doc_ids)
        if rowids:
            self.vectors.remove_ids(faiss.IDSelectorBatch(np.asarray(rowids, dtype=np.int64)))
        for i in range(0, len(doc_ids), 500):
            part = list(doc_ids[i:i + 500])
            q = ",".join("?" * len(part))
            self.conn.execute(f"DELETE FROM chunks WHERE doc_id IN ({q})", part)
            self.conn.execute(f"DELETE FROM documents WHERE doc_id IN ({q})", part)
        return len(rowids)

    def vectors_of(self, rowids: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(rowids), self.vectors.d), dtype=np.float32)
        for i, r in enumerate(rowids):
            out[i] = self.vectors.reconstruct(int(r))
        return out

    def add_document(self, doc: Document, canonical: str | None) -> None:
        self.conn.execute(
            "INSERT INTO documents(doc_id, title, text, source, sha256, url, date, publisher, canonical) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (doc.id, doc.title, doc.text, doc.source, doc.sha256, doc.url, doc.date, doc.publisher, canonical))

    def add_chunks(self, title: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        ids = []
        for c in chunks:
            cur = self.conn.execute(
                "INSERT INTO chunks(chunk_id, doc_id, n, start, end, title, heading, text) VALUES (?,?,?,?,?,?,?,?)",
                (c.id, c.doc_id, c.n, c.start, c.end, title, c.heading, c.text))
            ids.append(cur.lastrowid)
        self.vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                  np.asarray(ids, dtype=np.int64))

    def counts(self) -> dict[str, int]:
        docs = self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        indexed = self.conn.execute("SELECT count(*) FROM documents WHERE canonical IS NULL").fetchone()[0]
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"documents": int(docs), "indexed_documents": int(indexed), "chunks": int(chunks)}

    def commit(self, manifest: dict[str, Any]) -> Path:
        import faiss

        counts = self.counts()
        if counts["chunks"] != self.vectors.ntotal:
            raise IndexCorruptError(f"{counts['chunks']} chunks but {self.vectors.ntotal} vectors; nothing written")
        self.conn.commit()
        self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
        self.conn.commit()
        self.conn.close()
        faiss.write_index(self.vectors, str(self.tmp / VECTORS))
        manifest = {**manifest, "format_version": FORMAT_VERSION, "counts": counts,
                    "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for name in (DB, VECTORS, MANIFEST):
            _fsync_file(self.tmp / name)
        _fsync_dir(self.tmp)

        live = current_generation_or_none(self.index_dir)
        number = int(live.name.split("-")[1]) + 1 if live else 1
        final = self.index_dir / f"gen-{number:06d}"
        if final.exists():  # left by a run killed between rename and switch
            shutil.rmtree(final)
        os.rename(self.tmp, final)
        _fsync_dir(self.index_dir)
        _switch_current(self.index_dir, final.name)
        for old in self.index_dir.glob("gen-*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)
        return final

    def abort(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def current_generation_or_none(index_dir: Path) -> Path | None:
    try:
        return current_generation(index_dir)
    except IndexCorruptError:
        return None


def _switch_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f"{CURRENT}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
