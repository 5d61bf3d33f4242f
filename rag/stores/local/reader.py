"""Reading the local index: a snapshot of the live generation (dense, lexical, rows, documents)."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from rag.errors import IndexMismatchError, NoIndexError
from rag.stores.base import ChunkRow
from rag.stores.local import lexical as lex
from rag.stores.local.generations import (DB, FIX, FORMAT_VERSION, LEASE, Lease, base_files, check_wal_size, connect_ro,
                                          corrupt, current_generation, lexical_settings, read_meta)
from rag.words import STOPWORDS


# -- reading ---------------------------------------------------------------------------------
class IndexReader:
    """A read-only snapshot of the live generation, unaffected by writers until `close()`."""

    fuses_hybrid = False  # hybrid search is fused in `retrieval.Index`
    rebuild_flags = ""

    def __init__(self, index_dir: Path) -> None:
        self.label = f"index at {index_dir}/"
        self.index_dir = Path(index_dir)
        last: Exception | None = None
        misses = 0
        for _ in range(20):
            gen = current_generation(self.index_dir)
            if gen is None:
                raise NoIndexError(f"no index at {self.index_dir}/ — make one from a folder of articles with "
                                   f"`rag index FOLDER`")
            if not (gen / LEASE).exists() and (gen / "manifest.json").exists():
                raise IndexMismatchError(f"index at {self.index_dir} has format 1, this version reads "
                                         f"{FORMAT_VERSION}; {FIX}")
            try:
                self._open(gen)
                return
            except FileNotFoundError as exc:
                self._release()
                # A writer replaced the generation, or compacted it, between our reads: try again.
                # The same generation missing a file three times running is damage, not a race.
                misses = misses + 1 if current_generation(self.index_dir) == gen else 0
                if misses >= 3:
                    raise corrupt(f"{exc.filename or exc} is missing", "the index is incomplete") from exc
                last = exc
                time.sleep(0.01)
        raise corrupt(f"cannot open {self.index_dir}", last or "it keeps changing")

    def _open(self, gen: Path) -> None:
        self.gen = gen
        self._publishers: list[str] | None = None
        self._leases: list[Lease] = []
        self.conn: sqlite3.Connection | None = None
        self._leases.append(Lease(gen / LEASE))
        db = gen / DB
        self.conn = connect_ro(db)
        try:
            self.conn.execute("BEGIN")  # the snapshot: held until close()
            meta = read_meta(self.conn, db)
            check_wal_size(db, self.conn)
        except sqlite3.Error as exc:
            raise corrupt(f"cannot read {db}", exc) from exc
        self.manifest: dict[str, Any] = {**meta["manifest"], "counts": meta["counts"]}
        self._base_meta = meta["base"]
        self.nprobe = int(meta["base"].get("nprobe", 0))
        faiss_path = base_files(gen, self._base_meta["name"])[0]
        self._leases.append(Lease(faiss_path))
        self._vectors: Any = None
        self._tokenizer: lex.Tokenizer | None = None
        self._impacts: lex.ImpactFile | None = None
        self._dead_pos: np.ndarray | None = None
        if "lexical" in self._base_meta:  # absent in indexes written before it existed
            lex_path = gen / self._base_meta["lexical"]["file"]
            self._leases.append(Lease(lex_path))
            try:
                self._impacts = lex.ImpactFile(lex_path)
            except (lex.LexicalFileError, ValueError) as exc:
                raise corrupt(f"{lex_path}", exc) from exc
            if self._impacts.rows != int(self._base_meta["count"]):
                raise corrupt(f"{lex_path}", f"{self._impacts.rows} rows where the manifest says "
                               f"{self._base_meta['count']}")
        self._faiss_path = faiss_path
        self._delta_ids, self._delta = self._load_delta()
        self._tombstones = np.asarray([r[0] for r in self._sql("SELECT id FROM tombstones")], np.int64)
        _ = self.vectors  # mapped now, so the snapshot's vectors are bound to it

    @property
    def generation(self) -> str:
        """The name of the generation this snapshot reads (gen-000007)."""
        return self.gen.name

    def _release(self) -> None:
        for lease in getattr(self, "_leases", []):
            lease.close()
        self._leases = []
        if getattr(self, "conn", None) is not None:
            self.conn.close()
            self.conn = None

    def _sql(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            return self.conn.execute(sql, params).fetchall()  # type: ignore[union-attr]
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "fts5: syntax error" in str(exc):
                raise
            raise corrupt(f"cannot read {self.gen / DB}", exc) from exc

    def _load_delta(self) -> tuple[np.ndarray, np.ndarray]:
        dim = int(self.manifest["embedder"]["dim"])
        rows = self._sql("SELECT id, vector FROM delta ORDER BY id")
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        if vecs.size != len(rows) * dim:
            raise corrupt(f"{self.gen / DB}", "a delta vector has the wrong length")
        return ids, vecs.reshape(len(rows), dim)

    # -- vectors -------------------------------------------------------------------------
    @property
    def vectors(self) -> Any:
        """The base vector index (loaded on first use from the leased file)."""
        if self._vectors is None:
            import faiss

            try:
                # Memory-mapped: opening costs milliseconds and only the lists searched are read.
                self._vectors = faiss.read_index(str(self._faiss_path),
                                                 faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
            except RuntimeError as exc:
                raise corrupt(f"cannot read {self._faiss_path}", exc) from exc
            if self._vectors.ntotal != int(self._base_meta["count"]):
                raise corrupt(f"{self._faiss_path}", f"{self._vectors.ntotal} vectors where the "
                               f"manifest says {self._base_meta['count']}")
        return self._vectors

    def dense(self, query_vectors: np.ndarray, n: int) -> list[list[tuple[int, float]]]:
        """Top-n (row id, cosine) per query vector: base (minus tombstones) and delta merged."""
        import faiss

        q = np.ascontiguousarray(query_vectors, dtype=np.float32)
        out: list[list[tuple[int, float]]] = [[] for _ in range(len(q))]
        base = self.vectors
        alive = base.ntotal - len(self._tombstones)
        if alive > 0 and n > 0:
            sel = None
            if len(self._tombstones):
                sel = faiss.IDSelectorNot(faiss.IDSelectorBatch(self._tombstones))
                self._sel_keep = sel  # the selector must outlive the search call
            if self.nprobe:
                params = faiss.SearchParametersIVF(nprobe=self.nprobe, sel=sel) if sel is not None \
                    else faiss.SearchParametersIVF(nprobe=self.nprobe)
            else:
                params = faiss.SearchParameters(sel=sel) if sel is not None else None
            # One question at a time runs fastest on one thread: OpenMP's fork/join costs more
            # than it saves on a single query, and much more on a busy machine.
            threads = faiss.omp_get_max_threads()
            if len(q) <= 4:
                faiss.omp_set_num_threads(1)
            try:
                scores, ids = base.search(q, min(n, alive), params=params)
            finally:
                faiss.omp_set_num_threads(threads)
            for i, (row_ids, row_scores) in enumerate(zip(ids, scores)):
                out[i] = [(int(r), float(s)) for r, s in zip(row_ids, row_scores) if r >= 0]
        if len(self._delta_ids):
            sims = q @ self._delta.T
            k = min(n, sims.shape[1])
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            for i in range(len(q)):
                out[i] += [(int(self._delta_ids[j]), float(sims[i, j])) for j in top[i]]
                out[i] = sorted(out[i], key=lambda t: -t[1])[:n]
        return out

    # -- lexical -------------------------------------------------------------------------
    def lexical(self, query: str, n: int) -> list[tuple[int, float]]:
        """Top-n (row id, BM25 score, higher is better): FTS5's bm25() ranking (an OR of the
        question's words, column weights from the manifest), computed from the impact file with
        MaxScore (rag/stores/local/lexical.py) so that common words cost no scan of their postings."""
        terms = query_terms(query)
        if not terms or n <= 0:
            return []
        if self._impacts is None:
            return self._lexical_fts(terms, n)
        if self._tokenizer is None:
            self._tokenizer = lex.Tokenizer(lexical_settings(self.manifest)[1])
        mult: dict[str, int] = {}
        for stems in self._tokenizer.terms(terms):
            for t in stems:
                mult[t] = mult.get(t, 0) + 1
        impacts = self._impacts
        base = impacts.rows
        dead = self._dead_positions()
        rows = int(self.manifest["counts"]["chunks"])
        postings = []
        for term, m in mult.items():
            pos, imp, top = impacts.lookup(term)
            dpos, dimp = self._delta_postings(term)
            df = len(pos) - lex.count_in(pos, dead) + len(dpos)
            w = m * lex.idf(rows, df)
            top = max(top, float(dimp.max()) if len(dimp) else 0.0)
            postings.append(lex.TermPostings(pos, imp, dpos + base, dimp, w, w * top))
        positions, scores = lex.top_k(postings, base, base + len(self._delta_ids), n, dead.astype(np.int64))
        in_base = positions < base
        rowids = np.where(in_base, impacts.ids[np.where(in_base, positions, 0)],
                          self._delta_ids[np.where(in_base, 0, positions - base)] if len(self._delta_ids)
                          else 0)
        return [(int(r), float(sc)) for r, sc in zip(rowids, scores)]

    def _dead_positions(self) -> np.ndarray:
        """Positions in the impact file of the base rows that are gone (ascending, uint32)."""
        if self._dead_pos is None:
            ids = self._impacts.ids  # type: ignore[union-attr]
            pos = np.searchsorted(ids, self._tombstones) if len(self._tombstones) else np.zeros(0, np.int64)
            self._dead_pos = np.unique(pos).astype(np.uint32)
        return self._dead_pos

    def _delta_postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """Live delta chunks holding `term`: their index among the delta rows, and impacts."""
        if not len(self._delta_ids):
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = self._sql("SELECT ids, imps FROM lex_delta WHERE term = ?", (term,))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        ids = np.frombuffer(b"".join(r[0] for r in rows), np.int64)
        imps = np.frombuffer(b"".join(r[1] for r in rows), np.float32)
        if len(ids) != len(imps):
            raise corrupt(f"{self.gen / DB}", f"lexical delta of {term!r} has {len(ids)} ids and {len(imps)} impacts")
        at = np.minimum(np.searchsorted(self._delta_ids, ids), len(self._delta_ids) - 1)
        live = self._delta_ids[at] == ids  # chunks removed since they were added are skipped
        return at[live].astype(np.int64), imps[live]

    def _lexical_fts(self, terms: list[str], n: int) -> list[tuple[int, float]]:
        """The same ranking straight from FTS5 (indexes written before impact files existed;
        it scores every posting, so it is slow on a large index: `rag index --compact` adds one)."""
        match = " OR ".join(f'"{t}"' for t in terms)
        w = lexical_settings(self.manifest)[0]
        rows = self._sql(
            "SELECT rowid, bm25(chunks_fts, ?, ?, ?) AS s FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY s LIMIT ?", (*w, match, n))
        return [(int(r), -float(s)) for r, s in rows]

    def doc_freq(self, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks contain each term (prefix match after the index's own stemming)."""
        out = {}
        for t in terms:
            if not re.fullmatch(r"\w+", t):
                continue
            row = self._sql("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{t}"*',))
            out[t] = int(row[0][0])
        return out

    # -- rows ----------------------------------------------------------------------------
    def chunk_rows(self, rowids: Sequence[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        ids = list(rowids)
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = ",".join("?" * len(part))
            for r in self._sql(
                f"SELECT id, chunk_id, doc_id, n, start, end, title, heading, text FROM chunks WHERE id IN ({q})",
                part,
            ):
                out[r[0]] = ChunkRow(*r)
        return out

    def chunks_of(self, doc_id: str) -> list[ChunkRow]:
        return [ChunkRow(*r) for r in self._sql(
            "SELECT id, chunk_id, doc_id, n, start, end, title, heading, text FROM chunks "
            "WHERE doc_id = ? ORDER BY n", (doc_id,))]

    def document_text(self, doc_id: str) -> str:
        rows = self._sql("SELECT text FROM documents WHERE doc_id = ?", (doc_id,))
        if not rows:
            raise KeyError(doc_id)
        return str(rows[0][0])

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

    def publishers(self) -> list[str]:
        """The distinct publisher names of the indexed documents (read once per reader)."""
        if self._publishers is None:
            self._publishers = [r[0] for r in self._sql(
                "SELECT DISTINCT publisher FROM documents WHERE publisher IS NOT NULL AND publisher != ''")]
        return self._publishers

    def documents(self) -> list[tuple[str, str, str, str | None]]:
        """(doc_id, title, sha256, canonical) for every document, sorted by id."""
        return [tuple(r) for r in self._sql(  # type: ignore[misc]
            "SELECT doc_id, title, sha256, canonical FROM documents ORDER BY doc_id")]

    def document_metadata(self) -> dict[str, tuple[str, str, str]]:
        """doc_id -> (url, date, publisher), "" where unknown (`Document.metadata`)."""
        return {d: (u or "", t or "", p or "") for d, u, t, p in self._sql(
            "SELECT doc_id, url, date, publisher FROM documents")}

    def duplicates_of(self, doc_ids: Iterable[str]) -> dict[str, list[str]]:
        ids = list(set(doc_ids))
        if not ids:
            return {}
        out: dict[str, list[str]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i:i + 500]
            q = ",".join("?" * len(part))
            for dup, canon in self._sql(
                    f"SELECT doc_id, canonical FROM documents WHERE canonical IN ({q}) ORDER BY doc_id", part):
                out.setdefault(canon, []).append(dup)
        return out

    def size_on_disk(self) -> int:
        return sum(p.stat().st_size for p in self.gen.iterdir() if p.is_file())

    def close(self) -> None:
        self._release()

    def __enter__(self) -> "IndexReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def query_terms(text: str) -> list[str]:
    """Lower-cased word tokens minus stopwords, deduplicated, in order."""
    seen: dict[str, None] = {}
    for t in re.findall(r"\w+", text.lower()):
        if t not in STOPWORDS and t not in seen:
            seen[t] = None
    return list(seen)
