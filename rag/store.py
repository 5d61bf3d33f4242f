"""Everything under the index folder: write it crash-safely, open it, check what it claims to be.

Layout::

    index/
      CURRENT                 name of the live generation (replaced atomically)
      .lock                   held (flock) by the one process writing
      gen-000007/
        lease                 readers hold a shared flock on it while they use this generation
        chunks.sqlite         documents, chunks, FTS5 lexical index, manifest, vector delta and
                              tombstones — one SQLite database in WAL mode
        base-000003.faiss     immutable vector index over the "base" rows (exact or IVF-SQ8)
        base-000003.f32       the same vectors at full precision, row-major (for compaction)
        base-000003.ids       their row ids, int64, ascending
        base-000003.lex       BM25 impacts of the same rows, for fast exact lexical search
                              (rag/lexical.py); chunks added later have theirs in SQLite

Two kinds of write, both all-or-nothing:

* A full build (first index, `--rebuild`, another embedder or chunking) writes a new generation
  in a temporary folder, fsyncs it, renames it into place and only then points CURRENT at it.
* An update (a few documents added, changed or removed) is one SQLite transaction on the live
  generation: rows, FTS entries, the new vectors and lexical impacts (the "delta", stored in
  SQLite) and the ids of base rows that are gone ("tombstones"). Nothing is copied, so its cost is proportional to
  the change, not to the index. When the delta grows past a share of the base, or on
  `rag index --compact`, the vectors are merged into a new immutable base file, which one more
  transaction makes current.

A process killed at any moment leaves either the old or the new state (SQLite's own atomic
commit; new files are only referenced once fsynced). Readers take a snapshot: one SQLite read
transaction plus a shared lease on the generation and on its base files, held until `close()`.
A writer never deletes a file that a reader leases; it leaves it to a later writer.
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

from . import lexical as lex
from .errors import IndexBusyError, IndexCorruptError, IndexMismatchError, NoIndexError
from .types import Chunk, Document

FORMAT_VERSION = 2
CURRENT = "CURRENT"
LOCK = ".lock"
LEASE = "lease"
DB = "chunks.sqlite"
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

REBUILD = "rag index --rebuild"
FIX = f"rebuild it from its source files with `{REBUILD} FOLDER`"

# Base vectors above this count are searched through an approximate IVF-SQ8 index; below it,
# exactly (see benchmarks/RESULTS-scale.md for the measurement behind the figure).
ANN_MIN_VECTORS = 200_000
ANN_TARGET_RECALL = 0.95
# An update folds the delta into a new base when the delta (new vectors + tombstones) exceeds
# this share of the base and this many rows.
COMPACT_SHARE = 0.2
COMPACT_MIN_ROWS = 20_000
LEXICAL_WEIGHTS = (0.5, 0.5, 1.0)  # bm25() weights of title, heading, text unless the manifest says

LEX_DELTA = """
CREATE TABLE IF NOT EXISTS lex_delta (  -- BM25 impacts of chunks not in the base, one row per term and write
    term TEXT NOT NULL, ids BLOB NOT NULL, imps BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS lex_delta_term ON lex_delta(term);
"""

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- also the vector's id; never reused
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
CREATE VIRTUAL TABLE chunks_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, title, heading, text) VALUES (new.id, new.title, new.heading, new.text);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, title, heading, text)
    VALUES ('delete', old.id, old.title, old.heading, old.text);
END;
CREATE TABLE delta (id INTEGER PRIMARY KEY, vector BLOB NOT NULL);  -- vectors not in the base
CREATE TABLE tombstones (id INTEGER PRIMARY KEY);                    -- base vectors now gone
{LEX_DELTA}
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


# -- small helpers ---------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _corrupt(what: str, exc: BaseException | str) -> IndexCorruptError:
    return IndexCorruptError(f"{what}: {exc}; {FIX}")


def _gen_number(name: str) -> int:
    return int(name.split("-")[1])


def current_generation(index_dir: Path) -> Path | None:
    """The live generation folder, None when there is no index; IndexCorruptError when CURRENT
    names nothing usable."""
    pointer = Path(index_dir) / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _corrupt(f"cannot read {pointer}", exc) from exc
    if not re.fullmatch(r"gen-\d+", name):
        raise _corrupt(f"{pointer} names no generation", repr(name[:40]))
    gen = Path(index_dir) / name
    if not gen.is_dir():
        raise _corrupt(f"{pointer} names {name}", "that folder is missing")
    return gen


def newest_readable_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of the live generation, or when CURRENT is damaged, of the newest generation
    folder whose manifest can still be read (so a repair keeps the embedder and source folders)."""
    gens = [current_generation_or_none(index_dir)] + sorted(
        (p for p in Path(index_dir).glob("gen-*") if re.fullmatch(r"gen-\d+", p.name)),
        key=lambda p: -_gen_number(p.name))
    for gen in gens:
        if gen is None:
            continue
        try:
            return read_manifest(gen)
        except (IndexCorruptError, IndexMismatchError):
            continue
    return None


def current_generation_or_none(index_dir: Path) -> Path | None:
    try:
        return current_generation(index_dir)
    except IndexCorruptError:
        return None


def _connect_ro(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise _corrupt(f"{db}", "file missing")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA query_only=1")
    except sqlite3.Error as exc:
        raise _corrupt(f"cannot open {db}", exc) from exc
    return conn


def _meta(conn: sqlite3.Connection, db: Path) -> dict[str, Any]:
    try:
        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        out = {k: json.loads(v) for k, v in rows.items()}
    except (sqlite3.Error, ValueError) as exc:
        raise _corrupt(f"cannot read the manifest in {db}", exc) from exc
    for key in ("manifest", "counts", "base"):
        if key not in out:
            raise _corrupt(f"the manifest in {db}", f"{key!r} is missing")
    version = out["manifest"].get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {db.parent.parent} has format {version}, this version reads {FORMAT_VERSION}; "
            f"{FIX}")
    return out


def read_manifest(gen: Path) -> dict[str, Any]:
    """The generation's manifest with its current counts (as of the last committed write)."""
    db = Path(gen) / DB
    conn = _connect_ro(db)
    try:
        meta = _meta(conn, db)
    finally:
        conn.close()
    return {**meta["manifest"], "counts": meta["counts"]}


def _check_wal_size(db: Path, conn: sqlite3.Connection) -> None:
    """A database file shorter than the pages it claims was truncated (checked when no WAL holds
    pages that would make up the difference)."""
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.Error as exc:
        raise _corrupt(f"cannot read {db}", exc) from exc
    if db.stat().st_size < pages * size:
        raise _corrupt(f"{db} is truncated",
                       f"{db.stat().st_size} bytes for {pages} pages of {size}")


class _Lease:
    """A shared flock on a file, proving to writers that a reader still uses it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_SH)
            if os.fstat(self.fd).st_nlink == 0:  # removed between open and lock
                raise FileNotFoundError(str(path))
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _remove_if_unleased(path: Path) -> bool:
    """Delete `path` (a file, or a folder through its lease file) unless a reader holds it."""
    lease = path / LEASE if path.is_dir() else path
    try:
        fd = os.open(lease, os.O_RDONLY)
    except FileNotFoundError:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if path.is_dir():
            os.unlink(lease)  # first, so a reader that opened it sees it gone
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
        return True
    finally:
        os.close(fd)


def _base_files(gen: Path, name: str) -> tuple[Path, Path, Path]:
    return gen / f"{name}.faiss", gen / f"{name}.f32", gen / f"{name}.ids"


# -- reading ---------------------------------------------------------------------------------
class IndexReader:
    """A read-only snapshot of the live generation, unaffected by writers until `close()`."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        last: Exception | None = None
        misses = 0
        for _ in range(20):
            gen = current_generation(self.index_dir)
            if gen is None:
                raise NoIndexError(f"no index at {self.index_dir}/ — build one with `rag index seeds/`")
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
                    raise _corrupt(f"{exc.filename or exc} is missing", "the index is incomplete") from exc
                last = exc
                time.sleep(0.01)
        raise _corrupt(f"cannot open {self.index_dir}", last or "it keeps changing")

    def _open(self, gen: Path) -> None:
        self.gen = gen
        self._publishers: list[str] | None = None
        self._leases: list[_Lease] = []
        self.conn: sqlite3.Connection | None = None
        self._leases.append(_Lease(gen / LEASE))
        db = gen / DB
        self.conn = _connect_ro(db)
        try:
            self.conn.execute("BEGIN")  # the snapshot: held until close()
            meta = _meta(self.conn, db)
            _check_wal_size(db, self.conn)
        except sqlite3.Error as exc:
            raise _corrupt(f"cannot read {db}", exc) from exc
        self.manifest: dict[str, Any] = {**meta["manifest"], "counts": meta["counts"]}
        self._base_meta = meta["base"]
        self.nprobe = int(meta["base"].get("nprobe", 0))
        faiss_path = _base_files(gen, self._base_meta["name"])[0]
        self._leases.append(_Lease(faiss_path))
        self._vectors: Any = None
        self._tokenizer: lex.Tokenizer | None = None
        self._impacts: lex.ImpactFile | None = None
        self._dead_pos: np.ndarray | None = None
        if "lexical" in self._base_meta:  # absent in indexes written before it existed
            lex_path = gen / self._base_meta["lexical"]["file"]
            self._leases.append(_Lease(lex_path))
            try:
                self._impacts = lex.ImpactFile(lex_path)
            except (lex.LexicalFileError, ValueError) as exc:
                raise _corrupt(f"{lex_path}", exc) from exc
            if self._impacts.rows != int(self._base_meta["count"]):
                raise _corrupt(f"{lex_path}", f"{self._impacts.rows} rows where the manifest says "
                               f"{self._base_meta['count']}")
        self._faiss_path = faiss_path
        self._delta_ids, self._delta = self._load_delta()
        self._tombstones = np.asarray([r[0] for r in self._sql("SELECT id FROM tombstones")], np.int64)
        _ = self.vectors  # mapped now, so the snapshot's vectors are bound to it

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
            raise _corrupt(f"cannot read {self.gen / DB}", exc) from exc

    def _load_delta(self) -> tuple[np.ndarray, np.ndarray]:
        dim = int(self.manifest["embedder"]["dim"])
        rows = self._sql("SELECT id, vector FROM delta ORDER BY id")
        ids = np.asarray([r[0] for r in rows], dtype=np.int64)
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        if vecs.size != len(rows) * dim:
            raise _corrupt(f"{self.gen / DB}", "a delta vector has the wrong length")
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
                raise _corrupt(f"cannot read {self._faiss_path}", exc) from exc
            if self._vectors.ntotal != int(self._base_meta["count"]):
                raise _corrupt(f"{self._faiss_path}", f"{self._vectors.ntotal} vectors where the "
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
        MaxScore (rag/lexical.py) so that common words cost no scan of their postings."""
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
            raise _corrupt(f"{self.gen / DB}", f"lexical delta of {term!r} has {len(ids)} ids and {len(imps)} impacts")
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
            self.conn.executescript(_SCHEMA)
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
                meta = _meta(self.conn, db)
            except sqlite3.Error as exc:
                raise _corrupt(f"cannot update {db}", exc) from exc
            if int(meta["manifest"]["embedder"]["dim"]) != dim:
                raise IndexMismatchError(f"vectors in {base} have dimension "
                                         f"{meta['manifest']['embedder']['dim']}, expected {dim}")
            self.base_meta = meta["base"]
            # Kept up to date by each edit, so a small update costs no scan of the whole index.
            self._counts = {k: int(meta["counts"][k]) for k in ("documents", "indexed_documents", "chunks")}
            self._base_ids = np.fromfile(_base_files(base, self.base_meta["name"])[2], dtype=np.int64)
            if len(self._base_ids) != int(self.base_meta["count"]):
                raise _corrupt(f"{base}", "the base vector ids do not match the manifest")
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
                raw = _raw_vectors(self.gen, self.base_meta["name"], self.dim)
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
        _ensure_lex_delta(self.conn)
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
        faiss_path, raw_path, ids_path = _base_files(self.gen, name)
        os.rename(self.gen / "raw.f32", raw_path)
        os.rename(self.gen / "raw.ids", ids_path)
        base_meta = _write_base_index(self.gen, name, self.dim)
        self.conn.execute("COMMIT")
        self.conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')")
        base_meta["lexical"] = _write_impacts(self.conn, self.gen, name, manifest_weights(self.conn))
        self._set_meta("base", base_meta)
        self.conn.execute("PRAGMA journal_mode=WAL")  # updates after this one go in place
        self.conn.close()
        (self.gen / LEASE).touch()
        for p in self.gen.iterdir():
            _fsync_file(p)
        _fsync_dir(self.gen)

        numbers = [_gen_number(p.name) for p in self.index_dir.glob("gen-*") if re.fullmatch(r"gen-\d+", p.name)]
        final = self.index_dir / f"gen-{max(numbers, default=0) + 1:06d}"
        os.rename(self.gen, final)
        _fsync_dir(self.index_dir)
        _switch_current(self.index_dir, final.name)
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


def _ensure_lex_delta(conn: sqlite3.Connection) -> None:
    """Create the lexical delta table inside the open transaction (indexes written before it)."""
    for statement in LEX_DELTA.split(";"):
        if statement.strip():
            conn.execute(statement)


def lexical_settings(manifest: dict[str, Any]) -> tuple[list[float], str]:
    """The lexical index's column weights and FTS5 tokenizer a manifest records (the defaults for
    indexes written before they were recorded)."""
    settings = manifest.get("lexical", {})
    return list(settings.get("weights", LEXICAL_WEIGHTS)), settings.get("tokenizer", FTS_TOKENIZER)


def manifest_weights(conn: sqlite3.Connection) -> list[float]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
    return lexical_settings(json.loads(row[0]) if row else {})[0]


def _write_impacts(conn: sqlite3.Connection, gen: Path, name: str, weights: Sequence[float]) -> dict[str, Any]:
    """The impact file of base `name` (its rows are every chunk of the FTS5 index)."""
    ids = np.fromfile(_base_files(gen, name)[2], dtype=np.int64)
    try:
        return lex.write_impacts(conn, gen / f"{name}.lex", ids, weights)
    except lex.LexicalFileError as exc:
        raise IndexCorruptError(f"cannot write the lexical impacts of {gen}: {exc}; nothing written") from exc


def _raw_vectors(gen: Path, name: str, dim: int) -> np.ndarray:
    path = _base_files(gen, name)[1]
    if path.stat().st_size == 0:
        return np.zeros((0, dim), np.float32)
    return np.memmap(path, dtype=np.float32, mode="r").reshape(-1, dim)


def _write_base_index(gen: Path, name: str, dim: int) -> dict[str, Any]:
    """Build the searchable index over the base vectors in `gen`: exact below ANN_MIN_VECTORS,
    IVF with 8-bit scalar quantization above, its nprobe the smallest whose recall@10 against
    exact search reaches ANN_TARGET_RECALL on a sample of perturbed base vectors."""
    import faiss

    faiss_path, _, ids_path = _base_files(gen, name)
    raw = _raw_vectors(gen, name, dim)
    ids = np.fromfile(ids_path, dtype=np.int64)
    if len(ids) != len(raw):
        raise IndexCorruptError(f"{len(ids)} ids for {len(raw)} vectors; nothing written")
    meta: dict[str, Any] = {"name": name, "count": int(len(ids))}
    step = 65_536
    if len(ids) < ANN_MIN_VECTORS:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        for i in range(0, len(ids), step):
            index.add_with_ids(np.ascontiguousarray(raw[i:i + step]), ids[i:i + step])
        meta["kind"] = "exact"
    else:
        rng = np.random.default_rng(0)
        nlist = int(np.sqrt(len(ids)))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10  # nprobe is calibrated below, so coarse centroids are good enough
        sample = np.sort(rng.choice(len(ids), size=min(len(ids), 64 * nlist), replace=False))
        index.train(np.ascontiguousarray(raw[sample]))
        for i in range(0, len(ids), step):
            index.add_with_ids(np.ascontiguousarray(raw[i:i + step]), ids[i:i + step])
        meta.update(kind="ivf-sq8", nlist=nlist, **_calibrate_nprobe(index, raw, ids, rng))
    faiss.write_index(index, str(faiss_path))
    return meta


def _calibrate_nprobe(index: Any, raw: np.ndarray, ids: np.ndarray, rng: np.random.Generator,
                      queries: int = 200) -> dict[str, Any]:
    import faiss

    pick = rng.choice(len(ids), size=queries, replace=False)
    q = np.asarray(raw[np.sort(pick)], dtype=np.float32)
    q = q + rng.standard_normal(q.shape).astype(np.float32) * 0.02
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    exact = np.zeros((queries, 10), np.int64)
    best = np.full((queries, 10), -np.inf, np.float32)
    step = 65_536
    for i in range(0, len(ids), step):  # exact top-10, streamed over the raw vectors
        s = q @ np.asarray(raw[i:i + step]).T
        both = np.concatenate([best, s], axis=1)
        both_ids = np.concatenate([exact, np.broadcast_to(ids[i:i + step], s.shape)], axis=1)
        top = np.argpartition(-both, 9, axis=1)[:, :10]
        best = np.take_along_axis(both, top, 1)
        exact = np.take_along_axis(both_ids, top, 1)
    def recall_at(nprobe: int) -> float:
        _, got = index.search(q, 10, params=faiss.SearchParametersIVF(nprobe=nprobe))
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, exact)]))

    nprobe = 1
    while nprobe < index.nlist and recall_at(nprobe) < ANN_TARGET_RECALL:
        nprobe *= 2
    # Questions lie farther from their passages than these perturbed copies do, so the target
    # is met with a margin: four times the probes (each probe costs ~nlist^-1 of exact search).
    nprobe = min(nprobe * 4, index.nlist)
    return {"nprobe": nprobe, "recall_at_10": round(recall_at(nprobe), 4)}


def needs_compaction(gen: Path) -> bool:
    conn = _connect_ro(gen / DB)
    try:
        meta = _meta(conn, gen / DB)
        delta = conn.execute("SELECT count(*) FROM delta").fetchone()[0]
        dead = conn.execute("SELECT count(*) FROM tombstones").fetchone()[0]
    finally:
        conn.close()
    pending = int(delta) + int(dead)
    return pending >= COMPACT_MIN_ROWS and pending >= COMPACT_SHARE * int(meta["base"]["count"])


def compact_generation(gen: Path, dim: int) -> dict[str, Any]:
    """Fold the delta and tombstones into a new immutable base (crash-safe: the new files are
    written and fsynced first, one transaction then makes them current). Needs `IndexLock`."""
    db = gen / DB
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        meta = _meta(conn, db)
        old = meta["base"]["name"]
        numbers = [int(m.group(1)) for p in gen.iterdir() if (m := re.fullmatch(r"base-(\d+)\.\w+", p.name))]
        name = f"base-{max(numbers, default=0) + 1:06d}"
        faiss_path, raw_path, ids_path = _base_files(gen, name)
        old_raw = _raw_vectors(gen, old, dim)
        old_ids = np.fromfile(_base_files(gen, old)[2], dtype=np.int64)
        dead = np.asarray([r[0] for r in conn.execute("SELECT id FROM tombstones")], np.int64)
        keep = ~np.isin(old_ids, dead)
        delta = conn.execute("SELECT id, vector FROM delta ORDER BY id").fetchall()
        with open(raw_path, "wb") as fr, open(ids_path, "wb") as fi:
            step = 65_536
            for i in range(0, len(old_ids), step):
                k = keep[i:i + step]
                fr.write(np.ascontiguousarray(old_raw[i:i + step][k]).tobytes())
                fi.write(old_ids[i:i + step][k].tobytes())
            for i, v in delta:  # ids of the delta are all above the base's (AUTOINCREMENT)
                fr.write(v)
                fi.write(np.int64(i).tobytes())
        base_meta = _write_base_index(gen, name, dim)
        base_meta["lexical"] = _write_impacts(conn, gen, name, manifest_weights(conn))
        for p in (faiss_path, raw_path, ids_path):
            _fsync_file(p)
        _fsync_dir(gen)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        _ensure_lex_delta(conn)
        conn.execute("DELETE FROM tombstones")
        conn.execute("DELETE FROM delta")
        conn.execute("DELETE FROM lex_delta")
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('base', ?)", (json.dumps(base_meta),))
        conn.execute("COMMIT")
        conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('merge', 500)")
    except sqlite3.Error as exc:
        raise _corrupt(f"cannot compact {db}", exc) from exc
    finally:
        conn.close()
    cleanup_generation(gen)
    return base_meta


def cleanup_generation(gen: Path) -> None:
    """Remove base files the manifest no longer names, unless a reader still leases them."""
    try:
        conn = _connect_ro(gen / DB)
        try:
            live = _meta(conn, gen / DB)["base"]["name"]
        finally:
            conn.close()
    except (IndexCorruptError, IndexMismatchError):
        return
    for p in gen.iterdir():
        m = re.fullmatch(r"(base-\d+)\.(faiss|f32|ids|lex)", p.name)
        if m and m.group(1) != live:
            _remove_if_unleased(p)


def cleanup_leftovers(index_dir: Path) -> None:
    """Remove what crashed writers left and generations no reader uses any more."""
    if not index_dir.is_dir():
        return
    for p in index_dir.glob(".tmp-*"):
        shutil.rmtree(p, ignore_errors=True)
    live = current_generation_or_none(index_dir)
    if live is None:  # CURRENT missing or damaged: keep every generation until a build succeeds
        return
    for p in index_dir.glob("gen-*"):
        if p != live and p.is_dir():
            _remove_if_unleased(p)
    cleanup_generation(live)


def _switch_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f"{CURRENT}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)
