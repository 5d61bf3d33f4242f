"""Check an index on disk: say exactly what is wrong with it, and the one command that fixes it.

`check_index` reads everything the store relies on — the CURRENT pointer, the manifest, SQLite's
own integrity check (tables and the FTS5 index), the stored counts, the vector files and their
ids against the chunk rows, the lexical impact file against the base and the FTS5 vocabulary, and each document's content hash — and returns a report. It never
writes; the fix for any damage is `rag index --rebuild`, which needs only the source files.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError
from rag.stores.local.generations import CURRENT, DB, LEASE
from rag.stores.local.generations import base_files as _base_files
from rag.stores.local.generations import connect_ro as _connect_ro
from rag.stores.local.generations import current_generation, newest_readable_manifest
from rag.stores.local.generations import read_meta as _meta


@dataclass(frozen=True)
class CheckReport:
    index_dir: str
    generation: str | None
    problems: tuple[str, ...]
    notes: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    sources: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def fix(self) -> str | None:
        """The one command that repairs the index (None when it is sound)."""
        if self.ok:
            return None
        folders = " ".join(self.sources) if self.sources else "FOLDER"
        return f"rag index {folders} --index-dir {self.index_dir} --rebuild"


def _doc_hash(title: str, text: str) -> str:
    """The content hash the loader records for a document (sha256 of title, newline, text)."""
    return hashlib.sha256(f"{title}\n{text}".encode("utf-8")).hexdigest()


def check_index(index_dir: str | Path, *, hashes: bool = True) -> CheckReport:
    index_dir = Path(index_dir)
    problems: list[str] = []
    notes: list[str] = []
    sources: tuple[str, ...] = ()
    counts: dict[str, int] = {}

    def report(gen: Path | None) -> CheckReport:
        return CheckReport(str(index_dir), gen.name if gen else None, tuple(problems), tuple(notes),
                           counts, sources)

    if not (index_dir / CURRENT).exists():
        problems.append(f"no index at {index_dir}/ ({CURRENT} is missing)")
        return report(None)
    try:
        gen = current_generation(index_dir)
    except RagError as exc:
        problems.append(str(exc).split(";")[0])
        sources = tuple((newest_readable_manifest(index_dir) or {}).get("sources", ()))
        return report(None)
    assert gen is not None
    for p in index_dir.iterdir():
        if p.name.startswith(".tmp-") or (re.fullmatch(r"gen-\d+", p.name) and p != gen):
            notes.append(f"{p.name} is left from an earlier write (removed by the next write once no reader uses it)")
    if not (gen / LEASE).exists():
        problems.append(f"{gen.name}/{LEASE} is missing")
    db = gen / DB
    try:
        conn = _connect_ro(db)
    except RagError as exc:
        problems.append(str(exc).split(";")[0])
        return report(gen)
    try:
        try:
            bad = [r[0] for r in conn.execute("PRAGMA integrity_check(20)")]
        except sqlite3.DatabaseError as exc:
            problems.append(f"{db.name} is not a readable SQLite database: {exc}")
            return report(gen)
        if bad != ["ok"]:
            problems.append(f"{db.name} fails SQLite's integrity check: {'; '.join(bad[:5])}")
            return report(gen)
        try:
            meta = _meta(conn, db)
        except RagError as exc:
            problems.append(str(exc).split(";")[0])
            return report(gen)
        manifest = meta["manifest"]
        sources = tuple(manifest.get("sources", ()))
        counts = dict(meta["counts"])
        problems += _check_rows(conn, meta)
        fts = _check_fts(db)
        if fts is not None:
            (notes if fts.startswith("not checked") else problems).append(fts)
        problems += _check_vectors(conn, gen, meta)
        lexical = _check_lexical(conn, gen, meta)
        (notes if lexical and lexical[0].startswith("no lexical impact file") else problems).extend(lexical)
        if hashes:
            wrong = [d for d, title, text, sha in conn.execute(
                "SELECT doc_id, title, text, sha256 FROM documents") if _doc_hash(title, text) != sha]
            if wrong:
                problems.append(f"{len(wrong)} document(s) do not match their content hash "
                                f"(first: {wrong[0]})")
    finally:
        conn.close()
    return report(gen)


def _check_fts(db: Path) -> str | None:
    """FTS5's own check of its index against the chunk rows. It is issued as a write statement,
    so it runs in a transaction that is rolled back (it changes nothing)."""
    try:
        conn = sqlite3.connect(db, isolation_level=None, timeout=1)
    except sqlite3.Error as exc:
        return f"not checked: the lexical index ({exc})"
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
        return None
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc) or "readonly" in str(exc):
            return f"not checked: the lexical index ({exc})"
        return f"the lexical (FTS5) index is damaged: {exc}"
    except sqlite3.DatabaseError as exc:
        return f"the lexical (FTS5) index is damaged: {exc}"
    finally:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        conn.close()


def _check_rows(conn: sqlite3.Connection, meta: dict[str, Any]) -> list[str]:
    out = []
    docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    indexed = conn.execute("SELECT count(*) FROM documents WHERE canonical IS NULL").fetchone()[0]
    chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    real = {"documents": docs, "indexed_documents": indexed, "chunks": chunks}
    for key, value in real.items():
        if meta["counts"].get(key) != value:
            out.append(f"the manifest counts {meta['counts'].get(key)} {key.replace('_', ' ')}, "
                       f"the database holds {value}")
    orphans = conn.execute("SELECT count(*) FROM chunks WHERE doc_id NOT IN (SELECT doc_id FROM documents)").fetchone()[0]
    if orphans:
        out.append(f"{orphans} chunk(s) belong to no document")
    return out


def _check_vectors(conn: sqlite3.Connection, gen: Path, meta: dict[str, Any]) -> list[str]:
    import faiss

    out = []
    base = meta["base"]
    dim = int(meta["manifest"]["embedder"]["dim"])
    faiss_path, raw_path, ids_path = _base_files(gen, base["name"])
    for p in (faiss_path, raw_path, ids_path):
        if not p.is_file():
            out.append(f"{gen.name}/{p.name} is missing")
    if out:
        return out
    n = int(base["count"])
    if ids_path.stat().st_size != 8 * n:
        out.append(f"{ids_path.name} holds {ids_path.stat().st_size // 8} ids, the manifest says {n}")
    if raw_path.stat().st_size != 4 * dim * n:
        out.append(f"{raw_path.name} holds {raw_path.stat().st_size // (4 * dim)} vectors, the manifest says {n}")
    try:
        index = faiss.read_index(str(faiss_path))
        if index.ntotal != n:
            out.append(f"{faiss_path.name} holds {index.ntotal} vectors, the manifest says {n}")
        if index.d != dim:
            out.append(f"{faiss_path.name} has dimension {index.d}, the embedder {dim}")
        del index
    except RuntimeError as exc:
        out.append(f"{faiss_path.name} is unreadable: {str(exc).splitlines()[0]}")
    if out:
        return out
    base_ids = np.fromfile(ids_path, dtype=np.int64)
    dead = np.asarray([r[0] for r in conn.execute("SELECT id FROM tombstones")], np.int64)
    delta = np.asarray([r[0] for r in conn.execute("SELECT id FROM delta")], np.int64)
    bad_len = conn.execute("SELECT count(*) FROM delta WHERE length(vector) != ?", (4 * dim,)).fetchone()[0]
    if bad_len:
        out.append(f"{bad_len} delta vector(s) have the wrong length")
    alive = np.union1d(np.setdiff1d(base_ids, dead), delta)
    rows = np.asarray([r[0] for r in conn.execute("SELECT id FROM chunks ORDER BY id")], np.int64)
    missing = np.setdiff1d(rows, alive)
    extra = np.setdiff1d(alive, rows)
    if len(missing):
        out.append(f"{len(missing)} chunk(s) have no vector (first row {missing[0]})")
    if len(extra):
        out.append(f"{len(extra)} vector(s) belong to no chunk (first id {extra[0]})")
    return out


def _check_lexical(conn: sqlite3.Connection, gen: Path, meta: dict[str, Any]) -> list[str]:
    """The impact file (rag/stores/local/lexical.py): readable, over exactly the base's rows, and with the
    FTS5 index's own count of postings (checked while no update has changed the FTS5 index)."""
    from rag.stores.local.lexical import ImpactFile, LexicalFileError

    base = meta["base"]
    if "lexical" not in base:
        return ["no lexical impact file (index written by an older version): lexical search reads "
                "FTS5 directly, which is slow on large indexes; `rag index --compact` adds it"]
    path = gen / base["lexical"]["file"]
    if not path.is_file():
        return [f"{gen.name}/{path.name} is missing"]
    try:
        impacts = ImpactFile(path)
    except (LexicalFileError, ValueError) as exc:
        return [f"{path.name} is unreadable: {exc}"]
    out = []
    ids_path = _base_files(gen, base["name"])[2]
    if impacts.rows != int(base["count"]):
        out.append(f"{path.name} holds {impacts.rows} rows, the manifest says {base['count']}")
    elif ids_path.is_file() and not np.array_equal(impacts.ids, np.fromfile(ids_path, dtype=np.int64)):
        out.append(f"{path.name} covers other rows than {ids_path.name}")
    elif len(impacts.pos) and int(impacts.pos.max()) >= impacts.rows:
        out.append(f"{path.name} has postings past its rows")
    try:
        pending = conn.execute("SELECT (SELECT count(*) FROM delta) + (SELECT count(*) FROM tombstones)").fetchone()[0]
    except sqlite3.Error as exc:
        return out + [f"cannot read the lexical delta: {exc}"]
    if not out and not pending:
        try:
            postings = conn.execute("SELECT coalesce(sum(doc), 0), count(*) FROM chunks_vocab").fetchone()
        except sqlite3.DatabaseError:  # a damaged FTS5 index, reported by its own check
            return out
        if (int(postings[0]), int(postings[1])) != (int(impacts.header["postings"]), int(impacts.header["terms"])):
            out.append(f"{path.name} holds {impacts.header['postings']} postings of {impacts.header['terms']} terms, "
                       f"the FTS5 index {postings[0]} of {postings[1]}")
    return out

