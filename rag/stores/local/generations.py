"""The index folder's layout and its generations: where the live one is, its manifest, leases that
keep a generation's files while a reader uses them, and the clean-up of what no reader holds.

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
                              (rag/stores/local/lexical.py); chunks added later have theirs in SQLite

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
from pathlib import Path
from typing import Any

from rag.errors import IndexCorruptError, IndexMismatchError

FORMAT_VERSION = 2
CURRENT = "CURRENT"
LOCK = ".lock"
LEASE = "lease"
DB = "chunks.sqlite"
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"

REBUILD = "rag index --rebuild"
FIX = f"rebuild it from its source files with `{REBUILD} FOLDER`"

LEXICAL_WEIGHTS = (0.5, 0.5, 1.0)  # bm25() weights of title, heading, text unless the manifest says

LEX_DELTA = """
CREATE TABLE IF NOT EXISTS lex_delta (  -- BM25 impacts of chunks not in the base, one row per term and write
    term TEXT NOT NULL, ids BLOB NOT NULL, imps BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS lex_delta_term ON lex_delta(term);
"""

SCHEMA = f"""
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


# -- small helpers ---------------------------------------------------------------------------
def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def corrupt(what: str, exc: BaseException | str) -> IndexCorruptError:
    return IndexCorruptError(f"{what}: {exc}; {FIX}")


def gen_number(name: str) -> int:
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
        raise corrupt(f"cannot read {pointer}", exc) from exc
    if not re.fullmatch(r"gen-\d+", name):
        raise corrupt(f"{pointer} names no generation", repr(name[:40]))
    gen = Path(index_dir) / name
    if not gen.is_dir():
        raise corrupt(f"{pointer} names {name}", "that folder is missing")
    return gen


def newest_readable_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of the live generation, or when CURRENT is damaged, of the newest generation
    folder whose manifest can still be read (so a repair keeps the embedder and source folders)."""
    gens = [current_generation_or_none(index_dir)] + sorted(
        (p for p in Path(index_dir).glob("gen-*") if re.fullmatch(r"gen-\d+", p.name)),
        key=lambda p: -gen_number(p.name))
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


def generation_stamp(index_dir: Path) -> tuple[Any, ...] | None:
    """What changes whenever a writer commits to the folder: the live generation's name and the
    inode, size and modification time of its SQLite database and write-ahead log (an update is a
    transaction on the live generation, a full build a new one). None when the folder has no
    index. Cheap (a read and two stats), for a long-lived reader to see that it should reopen."""
    try:
        name = (Path(index_dir) / CURRENT).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    parts: list[Any] = [name]
    db = Path(index_dir) / name / DB
    for path in (db, db.with_name(db.name + "-wal")):
        try:
            st = path.stat()
            parts += [st.st_ino, st.st_size, st.st_mtime_ns]
        except OSError:
            parts += [None, None, None]
    return tuple(parts)


def connect_ro(db: Path) -> sqlite3.Connection:
    if not db.is_file():
        raise corrupt(f"{db}", "file missing")
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False,
                               isolation_level=None)
        conn.execute("PRAGMA query_only=1")
    except sqlite3.Error as exc:
        raise corrupt(f"cannot open {db}", exc) from exc
    return conn


def read_meta(conn: sqlite3.Connection, db: Path) -> dict[str, Any]:
    try:
        rows = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        out = {k: json.loads(v) for k, v in rows.items()}
    except (sqlite3.Error, ValueError) as exc:
        raise corrupt(f"cannot read the manifest in {db}", exc) from exc
    for key in ("manifest", "counts", "base"):
        if key not in out:
            raise corrupt(f"the manifest in {db}", f"{key!r} is missing")
    version = out["manifest"].get("format_version")
    if version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index at {db.parent.parent} has format {version}, this version reads {FORMAT_VERSION}; "
            f"{FIX}")
    return out


def read_manifest(gen: Path) -> dict[str, Any]:
    """The generation's manifest with its current counts (as of the last committed write)."""
    db = Path(gen) / DB
    conn = connect_ro(db)
    try:
        meta = read_meta(conn, db)
    finally:
        conn.close()
    return {**meta["manifest"], "counts": meta["counts"]}


def check_wal_size(db: Path, conn: sqlite3.Connection) -> None:
    """A database file shorter than the pages it claims was truncated (checked when no WAL holds
    pages that would make up the difference)."""
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    except sqlite3.Error as exc:
        raise corrupt(f"cannot read {db}", exc) from exc
    if db.stat().st_size < pages * size:
        raise corrupt(f"{db} is truncated",
                       f"{db.stat().st_size} bytes for {pages} pages of {size}")


class Lease:
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


def remove_if_unleased(path: Path) -> bool:
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


def base_files(gen: Path, name: str) -> tuple[Path, Path, Path]:
    return gen / f"{name}.faiss", gen / f"{name}.f32", gen / f"{name}.ids"


def ensure_lex_delta(conn: sqlite3.Connection) -> None:
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


def cleanup_generation(gen: Path) -> None:
    """Remove base files the manifest no longer names, unless a reader still leases them."""
    try:
        conn = connect_ro(gen / DB)
        try:
            live = read_meta(conn, gen / DB)["base"]["name"]
        finally:
            conn.close()
    except (IndexCorruptError, IndexMismatchError):
        return
    for p in gen.iterdir():
        m = re.fullmatch(r"(base-\d+)\.(faiss|f32|ids|lex)", p.name)
        if m and m.group(1) != live:
            remove_if_unleased(p)


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
            remove_if_unleased(p)
    cleanup_generation(live)


def switch_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f"{CURRENT}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / CURRENT)
    fsync_dir(index_dir)
