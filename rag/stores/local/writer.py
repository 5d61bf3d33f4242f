"""Writing the local index: one writer at a time (`IndexLock`), a full build or an in-place update
(`GenerationWriter`), committed all at once."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.errors import IndexBusyError, IndexCorruptError, IndexMismatchError
from rag.stores.local import lexical as lex
from rag.stores.local.compaction import (compact_generation, needs_compaction, raw_vectors, write_base_impacts,
                                         write_base_index)
from rag.stores.local.generations import (DB, FORMAT_VERSION, LEASE, LOCK, SCHEMA, base_files, cleanup_leftovers,
                                          corrupt, ensure_lex_delta, fsync_dir, fsync_file, gen_number,
                                          lexical_settings, manifest_weights, read_meta, switch_current)
from rag.types import Chunk, Document


# -- writing ---------------------------------------------------------------------------------
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
    """Writes the index; `commit()` makes the change visible at once, `abort()` (or a crash)
    leaves the previous state.

    With `base=None` it builds a new generation in a temporary folder. With `base` (the live
    generation) it opens one SQLite transaction on it: rows, FTS entries, delta vectors and
    tombstones change together. Must be used while holding `IndexLock`.
    """

    def __init__(self, index_dir: Path, base: Path | None, dim: int) -> None:
        self.index_dir = Path(index_dir)
        self.dim = dim
        self.in_place = base is not None
        cleanup_leftovers(self.index_dir)
        if base is None:
            self.gen = self.index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
            self.gen.mkdir(parents=True)
            self.conn = sqlite3.connect(self.gen / DB, isolation_level=None)
            # Durability comes from fsync + rename at commit; inside the scratch copy, speed wins.
            self.conn.execute("PRAGMA journal_mode=OFF")
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.executescript(SCHEMA)
            self.conn.execute("BEGIN")
            self._raw = open(self.gen / "raw.f32", "wb")
            self._raw_ids = open(self.gen / "raw.ids", "wb")
            self.base_meta: dict[str, Any] = {}
            self._base_ids = np.zeros(0, np.int64)
            self._counts = {"documents": 0, "indexed_documents": 0, "chunks": 0}
            self._lex: dict[str, Any] | None = None
        else:
            self.gen = base
            db = base / DB
            try:
                self.conn = sqlite3.connect(db, isolation_level=None, timeout=30)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=FULL")
                self.conn.execute("BEGIN IMMEDIATE")
                meta = read_meta(self.conn, db)
            except sqlite3.Error as exc:
                raise corrupt(f"cannot update {db}", exc) from exc
            if int(meta["manifest"]["embedder"]["dim"]) != dim:
                raise IndexMismatchError(f"vectors in {base} have dimension "
                                         f"{meta['manifest']['embedder']['dim']}, expected {dim}")
            self.base_meta = meta["base"]
            # Kept up to date by each edit, so a small update costs no scan of the whole index.
            self._counts = {k: int(meta["counts"][k]) for k in ("documents", "indexed_documents", "chunks")}
            self._base_ids = np.fromfile(base_files(base, self.base_meta["name"])[2], dtype=np.int64)
            if len(self._base_ids) != int(self.base_meta["count"]):
                raise corrupt(f"{base}", "the base vector ids do not match the manifest")
            # New chunks get their BM25 impacts now, against the base's average length.
            self._lex = None
            if "lexical" in self.base_meta:
                weights, tokenizer = lexical_settings(meta["manifest"])
                self._lex = {"avgdl": float(self.base_meta["lexical"]["avgdl"]),
                             "weights": weights,
                             "tokenizer": lex.Tokenizer(tokenizer),
                             "pending": {}}

    # -- edits ---------------------------------------------------------------------------
    def doc_rowids(self, doc_ids: Sequence[str]) -> list[int]:
        out: list[int] = []
        for i in range(0, len(doc_ids), 500):
            part = list(doc_ids[i:i + 500])
            q = ",".join("?" * len(part))
            out += [r[0] for r in self.conn.execute(f"SELECT id FROM chunks WHERE doc_id IN ({q})", part)]
        return out

    def _in_base(self, rowids: np.ndarray) -> np.ndarray:
        if not len(self._base_ids):
            return np.zeros(len(rowids), bool)
        pos = np.searchsorted(self._base_ids, rowids)
        pos = np.minimum(pos, len(self._base_ids) - 1)
        return self._base_ids[pos] == rowids

    def remove_documents(self, doc_ids: Sequence[str]) -> int:
        """Drop documents and their chunks and vectors; returns how many chunks went."""
        if not self.in_place and doc_ids:
            raise IndexCorruptError("a new generation has nothing to remove")
        rowids = np.asarray(self.doc_rowids(doc_ids), dtype=np.int64)
        if len(rowids):
            in_base = self._in_base(rowids)
            self.conn.executemany("INSERT OR IGNORE INTO tombstones(id) VALUES (?)",
                                  [(int(r),) for r in rowids[in_base]])
            self.conn.executemany("DELETE FROM delta WHERE id = ?", [(int(r),) for r in rowids[~in_base]])
        for i in range(0, len(doc_ids), 500):
            part = list(doc_ids[i:i + 500])
            q = ",".join("?" * len(part))
            docs, indexed = self.conn.execute(
                f"SELECT count(*), count(*) - count(canonical) FROM documents WHERE doc_id IN ({q})", part).fetchone()
            self._counts["documents"] -= int(docs)
            self._counts["indexed_documents"] -= int(indexed or 0)
            self.conn.execute(f"DELETE FROM chunks WHERE doc_id IN ({q})", part)
            self.conn.execute(f"DELETE FROM documents WHERE doc_id IN ({q})", part)
        self._counts["chunks"] -= len(rowids)
        return len(rowids)

    def vectors_of(self, rowids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these rows (as written, full precision)."""
        out = np.zeros((len(rowids), self.dim), dtype=np.float32)
        if not self.in_place:
            raise IndexCorruptError("a new generation has no stored vectors to read back")
        raw = None
        for i, r in enumerate(rowids):
            row = self.conn.execute("SELECT vector FROM delta WHERE id = ?", (int(r),)).fetchone()
            if row is not None:
                out[i] = np.frombuffer(row[0], dtype=np.float32)
                continue
            pos = int(np.searchsorted(self._base_ids, r))
            if pos >= len(self._base_ids) or self._base_ids[pos] != r:
                raise KeyError(r)
            if raw is None:
                raw = raw_vectors(self.gen, self.base_meta["name"], self.dim)
            out[i] = raw[pos]
        return out

    def add_document(self, doc: Document, canonical: str | None) -> None:
        self.conn.execute(
            "INSERT INTO documents(doc_id, title, text, source, sha256, url, date, publisher, canonical) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (doc.id, doc.title, doc.text, doc.source, doc.sha256, doc.url, doc.date, doc.publisher, canonical))
        self._counts["documents"] += 1
        self._counts["indexed_documents"] += canonical is None

    def add_chunks(self, title: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(chunks), self.dim):
            raise IndexMismatchError(f"{len(chunks)} chunks came with vectors of shape {vectors.shape}")
        ids = []
        for c in chunks:
            cur = self.conn.execute(
                "INSERT INTO chunks(chunk_id, doc_id, n, start, end, title, heading, text) VALUES (?,?,?,?,?,?,?,?)",
                (c.id, c.doc_id, c.n, c.start, c.end, title, c.heading, c.text))
            ids.append(cur.lastrowid)
        self._counts["chunks"] += len(ids)
        if self.in_place:
            self.conn.executemany("INSERT INTO delta(id, vector) VALUES (?, ?)",
                                  [(i, v.tobytes()) for i, v in zip(ids, vectors)])
            if self._lex is not None:
                self._add_impacts([(i, title, c.heading, c.text) for i, c in zip(ids, chunks)])
        else:
            self._raw.write(vectors.tobytes())
            self._raw_ids.write(np.asarray(ids, dtype=np.int64).tobytes())

    def _add_impacts(self, rows: list[tuple[int, str, str | None, str]]) -> None:
        """BM25 impacts of new chunks (the same tokens FTS5 stores for them), kept until commit."""
        assert self._lex is not None
        tf, lengths = self._lex["tokenizer"].frequencies(rows, self._lex["weights"])
        pending = self._lex["pending"]
        for term, per in tf.items():
            ids = np.fromiter(per.keys(), np.int64, len(per))
            f = np.fromiter(per.values(), np.float64, len(per))
            d = np.asarray([lengths[i] for i in per], np.float64)
            pending.setdefault(term, []).append((ids, lex.tf_part(f, d, self._lex["avgdl"]).astype(np.float32)))

    def _write_impacts(self) -> None:
        if self._lex is None or not self._lex["pending"]:
            return
        ensure_lex_delta(self.conn)
        rows = []
        for term, parts in self._lex["pending"].items():
            ids = np.concatenate([p[0] for p in parts])
            imps = np.concatenate([p[1] for p in parts])
            rows.append((term, ids.tobytes(), imps.tobytes()))
        self.conn.executemany("INSERT INTO lex_delta(term, ids, imps) VALUES (?, ?, ?)", rows)
        self._lex["pending"] = {}

    def counts(self) -> dict[str, int]:
        """Documents, indexed (non-duplicate) documents and chunks as they will be committed."""
        return dict(self._counts)

    def _counted(self) -> dict[str, int]:
        docs = self.conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        indexed = self.conn.execute("SELECT count(*) FROM documents WHERE canonical IS NULL").fetchone()[0]
        chunks = self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return {"documents": int(docs), "indexed_documents": int(indexed), "chunks": int(chunks)}

    def _vector_count(self) -> int:
        if not self.in_place:
            return self._raw.tell() // (4 * self.dim)
        delta = self.conn.execute("SELECT count(*) FROM delta").fetchone()[0]
        dead = self.conn.execute("SELECT count(*) FROM tombstones").fetchone()[0]
        return int(self.base_meta["count"]) - int(dead) + int(delta)

    def _set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- commit --------------------------------------------------------------------------
    def commit(self, manifest: dict[str, Any]) -> Path:
        """Make the change visible atomically; returns the live generation folder."""
        counts = self.counts() if self.in_place else self._counted()
        vectors = self._vector_count()
        if counts["chunks"] != vectors:
            raise IndexCorruptError(f"{counts['chunks']} chunks but {vectors} vectors; nothing written")
        manifest = {**manifest, "format_version": FORMAT_VERSION,
                    "written_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self._set_meta("manifest", manifest)
        self._set_meta("counts", counts)
        if self.in_place:
            self._write_impacts()
            self.conn.execute("COMMIT")
            self.conn.close()
            if needs_compaction(self.gen):
                compact_generation(self.gen, self.dim)
            return self.gen
        return self._commit_new()

    def _commit_new(self) -> Path:
        self._raw.close()
        self._raw_ids.close()
        name = "base-000001"
        faiss_path, raw_path, ids_path = base_files(self.gen, name)
        os.rename(self.gen / "raw.f32", raw_path)
        os.rename(self.gen / "raw.ids", ids_path)
        base_meta = write_base_index(self.gen, name, self.dim)
        self.conn.execute("COMMIT")
        self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
        base_meta["lexical"] = write_base_impacts(self.conn, self.gen, name, manifest_weights(self.conn))
        self._set_meta("base", base_meta)
        self.conn.execute("PRAGMA journal_mode=WAL")  # updates after this one go in place
        self.conn.close()
        (self.gen / LEASE).touch()
        for p in self.gen.iterdir():
            fsync_file(p)
        fsync_dir(self.gen)

        numbers = [gen_number(p.name) for p in self.index_dir.glob("gen-*") if re.fullmatch(r"gen-\d+", p.name)]
        final = self.index_dir / f"gen-{max(numbers, default=0) + 1:06d}"
        os.rename(self.gen, final)
        fsync_dir(self.index_dir)
        switch_current(self.index_dir, final.name)
        self.gen = final
        cleanup_leftovers(self.index_dir)
        return final

    def abort(self) -> None:
        try:
            if self.in_place:
                self.conn.execute("ROLLBACK")
            self.conn.close()
        except sqlite3.Error:
            pass
        if not self.in_place:
            for fh in (self._raw, self._raw_ids):
                fh.close()
            shutil.rmtree(self.gen, ignore_errors=True)
