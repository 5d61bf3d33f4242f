"""The immutable base of a generation: its vector index (exact or IVF-SQ8), raw vectors, ids and
lexical impacts; folding the delta into a new base (compaction)."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.errors import IndexCorruptError
from rag.stores.local import lexical as lex
from rag.stores.local.generations import (DB, base_files, cleanup_generation, connect_ro, corrupt, ensure_lex_delta,
                                          fsync_dir, fsync_file, manifest_weights, read_meta)

# Base vectors above this count are searched through an approximate IVF-SQ8 index; below it,
# exactly (see benchmarks/RESULTS-scale.md for the measurement behind the figure).
ANN_MIN_VECTORS = 200_000
ANN_TARGET_RECALL = 0.95
# An update folds the delta into a new base when the delta (new vectors + tombstones) exceeds
# this share of the base and this many rows.
COMPACT_SHARE = 0.2
COMPACT_MIN_ROWS = 20_000

def write_base_impacts(conn: sqlite3.Connection, gen: Path, name: str, weights: Sequence[float]) -> dict[str, Any]:
    """The impact file of base `name` (its rows are every chunk of the FTS5 index)."""
    ids = np.fromfile(base_files(gen, name)[2], dtype=np.int64)
    try:
        return lex.write_impacts(conn, gen / f"{name}.lex", ids, weights)
    except lex.LexicalFileError as exc:
        raise IndexCorruptError(f"cannot write the lexical impacts of {gen}: {exc}; nothing written") from exc


def raw_vectors(gen: Path, name: str, dim: int) -> np.ndarray:
    path = base_files(gen, name)[1]
    if path.stat().st_size == 0:
        return np.zeros((0, dim), np.float32)
    return np.memmap(path, dtype=np.float32, mode="r").reshape(-1, dim)


def write_base_index(gen: Path, name: str, dim: int) -> dict[str, Any]:
    """Build the searchable index over the base vectors in `gen`: exact below ANN_MIN_VECTORS,
    IVF with 8-bit scalar quantization above, its nprobe the smallest whose recall@10 against
    exact search reaches ANN_TARGET_RECALL on a sample of perturbed base vectors."""
    import faiss

    faiss_path, _, ids_path = base_files(gen, name)
    raw = raw_vectors(gen, name, dim)
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
    conn = connect_ro(gen / DB)
    try:
        meta = read_meta(conn, gen / DB)
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
        meta = read_meta(conn, db)
        old = meta["base"]["name"]
        numbers = [int(m.group(1)) for p in gen.iterdir() if (m := re.fullmatch(r"base-(\d+)\.\w+", p.name))]
        name = f"base-{max(numbers, default=0) + 1:06d}"
        faiss_path, raw_path, ids_path = base_files(gen, name)
        old_raw = raw_vectors(gen, old, dim)
        old_ids = np.fromfile(base_files(gen, old)[2], dtype=np.int64)
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
        base_meta = write_base_index(gen, name, dim)
        base_meta["lexical"] = write_base_impacts(conn, gen, name, manifest_weights(conn))
        for p in (faiss_path, raw_path, ids_path):
            fsync_file(p)
        fsync_dir(gen)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("BEGIN IMMEDIATE")
        ensure_lex_delta(conn)
        conn.execute("DELETE FROM tombstones")
        conn.execute("DELETE FROM delta")
        conn.execute("DELETE FROM lex_delta")
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('base', ?)", (json.dumps(base_meta),))
        conn.execute("COMMIT")
        conn.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('merge', 500)")
    except sqlite3.Error as exc:
        raise corrupt(f"cannot compact {db}", exc) from exc
    finally:
        conn.close()
    cleanup_generation(gen)
    return base_meta
