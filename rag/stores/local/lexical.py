"""Exact BM25 top-k over precomputed impacts: the store's fast lexical search.

SQLite FTS5 scores every posting of every query term, so at a million chunks a question made
of common words costs a second. This module keeps, next to each immutable vector base of a
generation, an impact file (`base-NNNNNN.lex`): for every term of the FTS5 index, the chunks that
hold it (their positions in the base, ascending) and the term-frequency part of FTS5's own
bm25() for each (column weights, document length, k1 = 1.2, b = 0.75), read from FTS5's own
tokens, so a term here is exactly a term there. Chunks added later (the "delta") get their
impacts from the same tokenizer at write time, stored in SQLite with the rest of the update.

A query multiplies each term's impacts by its live IDF (FTS5's formula, over the live chunk
and document-frequency counts) and keeps the k best with MaxScore: terms are taken in
decreasing order of their largest possible contribution; once the k-th best score so far
exceeds what all remaining terms together could add, no unseen chunk can enter the top k, and
the remaining terms (typically the common words, with the longest posting lists) are only
looked up for the candidates already found (binary search, no scan). The result is the same
ranking as FTS5's `ORDER BY bm25(...)` right after a build or compaction; after updates the
only difference is the average chunk length, which stays the base's until the next compaction.

File layout (little-endian): 8-byte magic, uint64 header length, JSON header, then 8-byte
aligned arrays: `hash` int64[T] (term hashes, sorted), `start` int64[T], `df` int64[T],
`max` float32[T] (largest impact of each term), `ids` int64[N] (the base's chunk row ids,
ascending), `pos` uint32[P] and `imp` float32[P] (postings, term by term).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MAGIC = b"RAGLEX01"
K1 = 1.2
B = 0.75
COLUMNS = ("title", "heading", "text")


class LexicalFileError(ValueError):
    """The impact file is missing parts or disagrees with itself."""


def term_hash(term: str) -> int:
    """A stable 64-bit key for a term (collisions are checked when a file is written)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def idf(n_rows: int, df: int) -> float:
    """FTS5 bm25()'s IDF: log((N - n + 0.5) / (n + 0.5)), floored at 1e-6."""
    v = math.log((n_rows - df + 0.5) / (df + 0.5)) if df > 0 else 0.0
    return v if v > 0 else 1e-6


def tf_part(tf: np.ndarray, length: np.ndarray, avgdl: float) -> np.ndarray:
    """FTS5 bm25()'s per-row factor: tf (k1 + 1) / (tf + k1 (1 - b + b D / avgdl))."""
    return tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / avgdl))


# -- writing ---------------------------------------------------------------------------------
def _docsizes(conn: sqlite3.Connection, fts: str, ids: np.ndarray) -> np.ndarray:
    """Tokens per row (all columns), from FTS5's docsize table (SQLite varints per column)."""
    rowids, totals = [], []
    for rowid, blob in conn.execute(f"SELECT id, sz FROM {fts}_docsize"):
        total, i = 0, 0
        if all(byte < 0x80 for byte in blob):  # the usual case: every column under 128 tokens
            total = sum(blob)
        else:
            while i < len(blob):
                v, n = 0, 0
                while True:
                    byte = blob[i]
                    i += 1
                    n += 1
                    if n == 9:
                        v = (v << 8) | byte
                        break
                    v = (v << 7) | (byte & 0x7F)
                    if byte < 0x80:
                        break
                total += v
        rowids.append(rowid)
        totals.append(total)
    r = np.asarray(rowids, np.int64)
    pos = np.searchsorted(ids, r)
    if len(r) != len(ids) or (len(r) and (pos.max() >= len(ids) or np.any(ids[pos] != r))):
        raise LexicalFileError(f"the lexical index has {len(r)} rows, the vectors {len(ids)}")
    lengths = np.zeros(len(ids), np.float64)
    lengths[pos] = totals
    return lengths


def write_impacts(conn: sqlite3.Connection, path: Path, ids: np.ndarray,
                  weights: Sequence[float], fts: str = "chunks_fts") -> dict[str, Any]:
    """Write the impact file for the FTS5 table `fts`, whose rows must be exactly `ids`
    (ascending). Returns the facts the manifest keeps about it. The file is fsynced."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    if len(ids) and np.any(np.diff(ids) <= 0):
        raise LexicalFileError("row ids must be strictly ascending")
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.lex_row USING fts5vocab(main, '{fts}', 'row')")
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.lex_inst USING fts5vocab(main, '{fts}', 'instance')")
    try:
        vocab = conn.execute("SELECT term, doc FROM temp.lex_row").fetchall()
        lengths = _docsizes(conn, fts, ids)
        n = len(ids)
        avgdl = float(lengths.sum() / n) if n else 1.0
        avgdl = avgdl or 1.0
        t_count = len(vocab)
        postings = int(sum(d for _, d in vocab))
        hashes = np.fromiter((term_hash(t) for t, _ in vocab), np.int64, t_count)
        order = np.argsort(hashes, kind="stable")
        if t_count and np.any(np.diff(hashes[order]) == 0):
            raise LexicalFileError("two terms share a 64-bit hash")
        dfs = np.asarray([d for _, d in vocab], np.int64)
        starts = np.concatenate([[0], np.cumsum(dfs)[:-1]]).astype(np.int64) if t_count else dfs
        maxes = np.zeros(t_count, np.float32)
        header = {"format": 1, "rows": n, "terms": t_count, "postings": postings, "avgdl": avgdl,
                  "k1": K1, "b": B, "weights": [float(w) for w in weights]}
        sizes = {"hash": 8 * t_count, "start": 8 * t_count, "df": 8 * t_count, "max": 4 * t_count,
                 "ids": 8 * n, "pos": 4 * postings, "imp": 4 * postings}
        head = json.dumps(header).encode()
        at = _align(16 + len(head) + 512)  # room for the offsets added below
        offsets = {}
        for name in ("hash", "start", "df", "max", "ids", "pos", "imp"):
            offsets[name] = at
            at = _align(at + sizes[name])
        header["offsets"] = offsets
        header["size"] = at
        head = json.dumps(header).encode()
        if 16 + len(head) > offsets["hash"]:
            raise LexicalFileError("header too long")
        w = np.asarray(list(weights) + [1.0] * (4 - len(weights)), np.float64)[:4]
        with open(path, "wb") as fh:
            fd = fh.fileno()
            os.ftruncate(fd, at)
            os.pwrite(fd, MAGIC + len(head).to_bytes(8, "little") + head, 0)
            os.pwrite(fd, ids.tobytes(), offsets["ids"])
            code = "doc * 4 + (col = 'heading') + 2 * (col = 'text')"
            for k, (term, df) in enumerate(vocab):
                s = conn.execute(f"SELECT group_concat({code}) FROM temp.lex_inst WHERE term = ?",
                                 (term,)).fetchone()[0]
                codes = np.fromstring(s, dtype=np.int64, sep=",") if s else np.zeros(0, np.int64)
                docs = codes >> 2
                if len(docs) > 1 and np.any(np.diff(docs) < 0):
                    sort = np.argsort(docs, kind="stable")
                    docs, codes = docs[sort], codes[sort]
                firsts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]]) if len(docs) else docs
                if len(firsts) != df:
                    raise LexicalFileError(f"term {term!r}: {len(firsts)} rows, the vocabulary says {df}")
                tf = np.add.reduceat(w[codes & 3], firsts) if len(firsts) else np.zeros(0)
                pos = np.searchsorted(ids, docs[firsts])
                if len(pos) and (pos.max() >= n or np.any(ids[pos] != docs[firsts])):
                    raise LexicalFileError(f"term {term!r} is in a row that has no vector")
                imp = tf_part(tf, lengths[pos], avgdl).astype(np.float32)
                maxes[k] = imp.max() if len(imp) else 0.0
                os.pwrite(fd, pos.astype(np.uint32).tobytes(), offsets["pos"] + 4 * int(starts[k]))
                os.pwrite(fd, imp.tobytes(), offsets["imp"] + 4 * int(starts[k]))
            for name, arr in (("hash", hashes[order]), ("start", starts[order]), ("df", dfs[order]),
                              ("max", maxes[order])):
                os.pwrite(fd, np.ascontiguousarray(arr).tobytes(), offsets[name])
            os.fsync(fd)
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.lex_inst")
        conn.execute("DROP TABLE IF EXISTS temp.lex_row")
    return {"file": path.name, "rows": n, "terms": t_count, "postings": postings,
            "avgdl": round(avgdl, 6)}


def _align(x: int) -> int:
    return (x + 7) // 8 * 8


class Tokenizer:
    """The index's FTS5 tokenizer run on an in-memory table with the same columns: the (stemmed)
    terms of a query, and the weighted term frequencies and lengths of new chunks."""

    def __init__(self, tokenize: str) -> None:
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.conn.execute(f"CREATE VIRTUAL TABLE q USING fts5(title, heading, text, tokenize='{tokenize}')")
        self.conn.execute("CREATE VIRTUAL TABLE qv USING fts5vocab(q, 'instance')")

    def terms(self, words: Sequence[str]) -> list[list[str]]:
        """The stored terms of each word (usually one; none for punctuation, several for a word
        the tokenizer splits)."""
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany("INSERT INTO q(rowid, text) VALUES (?, ?)",
                                  [(i + 1, w) for i, w in enumerate(words)])
            rows = self.conn.execute("SELECT doc, term FROM qv ORDER BY doc, offset").fetchall()
        finally:
            self.conn.execute("ROLLBACK")
        out: list[list[str]] = [[] for _ in words]
        for d, t in rows:
            out[d - 1].append(t)
        return out

    def frequencies(self, rows: Sequence[tuple[int, str, str | None, str]], weights: Sequence[float]
                    ) -> tuple[dict[str, dict[int, float]], dict[int, int]]:
        """For chunk rows (id, title, heading, text): term -> {id: weighted frequency}, and
        id -> tokens in all columns (what FTS5 stores for them)."""
        self.conn.execute("BEGIN")
        try:
            self.conn.executemany("INSERT INTO q(rowid, title, heading, text) VALUES (?, ?, ?, ?)", rows)
            inst = self.conn.execute("SELECT term, doc, col FROM qv").fetchall()
        finally:
            self.conn.execute("ROLLBACK")
        col_w = dict(zip(COLUMNS, weights))
        tf: dict[str, dict[int, float]] = {}
        lengths: dict[int, int] = {r[0]: 0 for r in rows}
        for term, doc, col in inst:
            per = tf.setdefault(term, {})
            per[doc] = per.get(doc, 0.0) + col_w[col]
            lengths[doc] += 1
        return tf, lengths


# -- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TermPostings:
    """One query term: its base postings (positions, impacts), its delta postings (extended
    positions past the base, impacts) and its weight (query multiplicity x live IDF)."""

    pos: np.ndarray
    imp: np.ndarray
    dpos: np.ndarray
    dimp: np.ndarray
    weight: float
    bound: float


class ImpactFile:
    """A memory-mapped impact file: opening reads the header only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.mm = np.memmap(self.path, dtype=np.uint8, mode="r")
        if len(self.mm) < 16 or bytes(self.mm[:8]) != MAGIC:
            raise LexicalFileError(f"{self.path.name} is not an impact file")
        hlen = int.from_bytes(bytes(self.mm[8:16]), "little")
        try:
            self.header = json.loads(bytes(self.mm[16:16 + hlen]))
            off = self.header["offsets"]
            t, n, p = self.header["terms"], self.header["rows"], self.header["postings"]
        except (ValueError, KeyError) as exc:
            raise LexicalFileError(f"{self.path.name}: unreadable header ({exc})") from exc
        if len(self.mm) != self.header["size"]:
            raise LexicalFileError(f"{self.path.name} holds {len(self.mm)} bytes, its header says {self.header['size']}")
        self.hashes = self._arr(off["hash"], np.int64, t)
        self.starts = self._arr(off["start"], np.int64, t)
        self.dfs = self._arr(off["df"], np.int64, t)
        self.maxes = self._arr(off["max"], np.float32, t)
        self.ids = self._arr(off["ids"], np.int64, n)
        self.pos = self._arr(off["pos"], np.uint32, p)
        self.imp = self._arr(off["imp"], np.float32, p)
        self.rows = n

    def _arr(self, offset: int, dtype: Any, count: int) -> np.ndarray:
        return np.frombuffer(self.mm, dtype=dtype, count=count, offset=offset)

    def lookup(self, term: str) -> tuple[np.ndarray, np.ndarray, float]:
        """The base postings of `term` (positions, impacts) and its largest impact."""
        h = term_hash(term)
        i = int(np.searchsorted(self.hashes, h))
        if i >= len(self.hashes) or self.hashes[i] != h:
            return np.zeros(0, np.uint32), np.zeros(0, np.float32), 0.0
        s, d = int(self.starts[i]), int(self.dfs[i])
        return self.pos[s:s + d], self.imp[s:s + d], float(self.maxes[i])


def count_in(sorted_a: np.ndarray, sorted_b: np.ndarray) -> int:
    """How many values of ascending `sorted_b` occur in ascending `sorted_a` (binary search of
    the shorter in the longer)."""
    if not len(sorted_a) or not len(sorted_b):
        return 0
    if len(sorted_b) > len(sorted_a):
        sorted_a, sorted_b = sorted_b, sorted_a
    i = np.searchsorted(sorted_a, sorted_b)
    i = np.minimum(i, len(sorted_a) - 1)
    return int(np.count_nonzero(sorted_a[i] == sorted_b))


def top_k(terms: list[TermPostings], base: int, size: int, k: int, dead: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """The k best (extended position, score) over `size` positions (the first `base` of them
    the base's), scores summed over the terms, positions in `dead` excluded; exact (MaxScore,
    see the module docstring)."""
    terms = sorted((t for t in terms if len(t.pos) or len(t.dpos)), key=lambda t: -t.bound)
    if not terms or k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    acc = np.zeros(size, np.float32)
    rest = [sum(t.bound for t in terms[i:]) for i in range(len(terms) + 1)]
    small: list[np.ndarray] | None = []  # the positions seen, while they are few
    seen_count = 0
    cand: np.ndarray | None = None
    theta_max = -1.0  # an upper bound of the k-th best score so far (-1: not known)
    done = 0
    for i, t in enumerate(terms):
        # Unseen chunks can gain at most rest[i] from here on: once the k-th best so far reaches
        # that, only the chunks already seen can still enter the top k.
        could = rest[0] - rest[i] if theta_max < 0 else theta_max
        if i > 0 and could >= rest[i]:
            seen = _positive(acc, small)
            theta = _kth(acc, seen, k)
            theta_max = theta
            if theta >= rest[i] and theta > 0:
                cand = seen[acc[seen] + rest[i] >= theta]
                break
        _add(acc, t.pos, t.imp, t.weight)
        _add(acc, t.dpos, t.dimp, t.weight)
        seen_count += len(t.pos) + len(t.dpos)
        if small is not None:
            small = small + [t.pos.astype(np.int64), t.dpos] if seen_count <= size // 16 else None
        if len(dead):
            acc[dead] = 0.0
        if theta_max >= 0:
            theta_max += t.bound
        done = i + 1
    if cand is not None:
        for i in range(done, len(terms)):
            t = terms[i]
            in_base = cand[cand < base].astype(np.uint32)  # the postings' own type: no copy of them
            if len(t.pos) and len(in_base) * 16 < len(t.pos):
                j = np.minimum(np.searchsorted(t.pos, in_base), len(t.pos) - 1)
                hit = t.pos[j] == in_base
                acc[in_base[hit].astype(np.intp)] += t.imp[j[hit]] * np.float32(t.weight)
            else:  # as many candidates as postings: adding them all is cheaper (and harmless)
                _add(acc, t.pos, t.imp, t.weight)
            _add(acc, t.dpos, t.dimp, t.weight)
            if len(dead):
                acc[dead] = 0.0
            theta = _kth(acc, cand, k)  # higher now: fewer candidates can still make the top k
            cand = cand[acc[cand] + rest[i + 1] >= theta]
        scored = cand
    else:
        scored = _positive(acc, small)
    if len(scored) > k:
        theta = _kth(acc, scored, k)
        scored = scored[acc[scored] >= theta]
    order = np.argsort(-acc[scored], kind="stable")[:k]
    return scored[order], acc[scored[order]]


def _add(acc: np.ndarray, pos: np.ndarray, imp: np.ndarray, weight: float) -> None:
    if len(pos):  # positions in a term's postings are distinct, so a fancy-index add is exact
        acc[pos.astype(np.intp)] += imp * np.float32(weight)


def _positive(acc: np.ndarray, small: list[np.ndarray] | None) -> np.ndarray:
    """Positions with a score, ascending (from the positions seen while they are few)."""
    if small is None:
        return np.flatnonzero(acc > 0)
    seen = np.unique(np.concatenate(small)) if small else np.zeros(0, np.int64)
    return seen[acc[seen] > 0]


def _kth(acc: np.ndarray, positions: np.ndarray, k: int) -> float:
    """The k-th largest score among `positions` (0 when there are fewer). A strided sample's
    k-th largest is a lower bound of it, which leaves few positions to select from exactly."""
    if len(positions) < k:
        return 0.0
    vals = acc[positions]
    step = len(vals) // (64 * k)
    if step > 1:
        sample = vals[::step]
        floor = np.partition(sample, len(sample) - k)[len(sample) - k]
        vals = vals[vals >= floor]
    return float(np.partition(vals, len(vals) - k)[len(vals) - k])
