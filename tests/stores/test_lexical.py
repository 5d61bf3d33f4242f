"""The impact-file lexical search against FTS5's own bm25() ranking: equal right after a build
and a compaction, within the base's average-length drift after updates, with deletes, added
chunks, repeated and common words, and on indexes written before impact files existed."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag import build_index, open_index
from rag.stores.local import lexical as lex
from rag.stores.local.compaction import compact_generation
from rag.stores.local.doctor import check_index
from rag.stores.local.generations import DB, current_generation
from rag.stores.local.reader import IndexReader

QUESTIONS = [
    "Which Vietnamese president welcomed Putin?",
    "the president said the talks were about trade and trade",
    "rice ports trade talks round",
    "what did the minister say about the economy in the report",
    "Putin",
    "zzzunknownword",
    "of the and",
]


def _fts(reader: IndexReader, question: str, n: int) -> list[tuple[int, float]]:
    from rag.stores.local.reader import query_terms

    terms = query_terms(question)
    return reader._lexical_fts(terms, n) if terms else []


def _same_ranking(got: list[tuple[int, float]], want: list[tuple[int, float]], rel: float) -> None:
    assert len(got) == len(want)
    g, w = dict(got), dict(want)
    # Equal scores may come in either order, and the last places may differ among ties.
    for (rg, sg), (rw, sw) in zip(got, want):
        assert sg == pytest.approx(sw, rel=rel, abs=1e-9)
    shared = set(g) & set(w)
    for r in shared:
        assert g[r] == pytest.approx(w[r], rel=rel, abs=1e-9)
    cut = want[-1][1] if want else 0
    for r in set(g) ^ set(w):
        assert (g.get(r) or w.get(r)) == pytest.approx(cut, rel=rel, abs=1e-9)


def _write_extra(corpus: Path, i: int) -> None:
    rng = random.Random(i)
    words = "trade talks rice ports president minister economy report the of and Putin".split()
    (corpus / f"extra_{i}.txt").write_text(
        f"Update number {i}\n\n" + "\n\n".join(
            " ".join(rng.choice(words) for _ in range(50)) + "." for _ in range(6)), encoding="utf-8")


def test_impacts_give_fts5s_ranking_after_build_updates_and_compaction(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    for i in range(3):
        _write_extra(corpus, i)
    build_index([corpus], idx, embedder=hashing)
    with IndexReader(idx) as r:
        assert r._impacts is not None
        for q in QUESTIONS:
            for n in (1, 5, 100):
                _same_ranking(r.lexical(q, n), _fts(r, q, n), rel=1e-5)

    # Updates: a document changed (tombstones in the base), two added (the delta), one removed.
    (corpus / "extra_0.txt").write_text("Update zero, rewritten: rice exports and ports.\n\n"
                                        "The president spoke about rice.", encoding="utf-8")
    _write_extra(corpus, 7)
    _write_extra(corpus, 8)
    (corpus / "extra_1.txt").unlink()
    build_index([corpus], idx, embedder=hashing)
    with IndexReader(idx) as r:
        assert len(r._tombstones) and len(r._delta_ids)
        for q in QUESTIONS:
            got, want = r.lexical(q, 100), _fts(r, q, 100)
            # Only the average chunk length differs (the base's, until compaction).
            assert {x for x, _ in got[:3]} <= {x for x, _ in want[:6]} or not want
            for x, s in got:
                assert s == pytest.approx(dict(want).get(x, s), rel=0.05)
            assert {x for x, _ in got} == {x for x, _ in want} or len(want) == 100
    # A chunk added and removed again before compaction is never found.
    (corpus / "extra_7.txt").unlink()
    build_index([corpus], idx, embedder=hashing)
    with IndexReader(idx) as r:
        gone = {x for x, in r.conn.execute("SELECT id FROM delta")}
        found = {x for q in QUESTIONS for x, _ in r.lexical(q, 1000)}
        rows = {x for x, in r.conn.execute("SELECT id FROM chunks")}
        assert found <= rows and gone <= rows

    gen = current_generation(idx)
    compact_generation(gen, hashing.dim)
    with IndexReader(idx) as r:
        assert not len(r._delta_ids) and not len(r._tombstones)
        assert r.conn.execute("SELECT count(*) FROM lex_delta").fetchone()[0] == 0
        for q in QUESTIONS:
            _same_ranking(r.lexical(q, 100), _fts(r, q, 100), rel=1e-5)
    assert check_index(idx).ok
    assert sorted(p.name for p in gen.glob("base-*.lex")) == [json.loads(
        sqlite3.connect(gen / DB).execute("SELECT value FROM meta WHERE key='base'").fetchone()[0])["lexical"]["file"]]


def test_top_k_is_exact_against_a_full_sum():
    rng = np.random.default_rng(3)
    size, base = 5000, 4500
    terms = []
    for df in (3, 40, 900, 3000, 4400):
        pos = np.sort(rng.choice(base, size=min(df, base), replace=False)).astype(np.uint32)
        imp = rng.random(len(pos)).astype(np.float32) * 2
        dpos = np.sort(rng.choice(np.arange(base, size), size=df // 10, replace=False))
        dimp = rng.random(len(dpos)).astype(np.float32) * 2
        w = float(lex.idf(size, len(pos) + len(dpos)))
        top = max(float(imp.max()), float(dimp.max()) if len(dimp) else 0.0)
        terms.append(lex.TermPostings(pos, imp, dpos, dimp, w, w * top))
    dead = np.sort(rng.choice(base, size=200, replace=False)).astype(np.int64)
    full = np.zeros(size)
    for t in terms:
        full[t.pos.astype(np.int64)] += t.imp * t.weight
        full[t.dpos] += t.dimp * t.weight
    full[dead] = 0
    for k in (1, 10, 100, 1000):
        pos, scores = lex.top_k(terms, base, size, k, dead)
        want = np.sort(full[full > 0])[::-1][:k]
        assert np.allclose(scores, want)
        assert np.allclose(full[pos], scores)
        assert not set(pos.tolist()) & set(dead.tolist())


def test_an_index_without_impacts_still_answers_and_compaction_adds_them(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    gen = current_generation(idx)
    with IndexReader(idx) as r:
        want = r.lexical(QUESTIONS[0], 10)
    # As an index written before impact files: no .lex, no lexical entry, no lex_delta table.
    conn = sqlite3.connect(gen / DB)
    base = json.loads(conn.execute("SELECT value FROM meta WHERE key='base'").fetchone()[0])
    (gen / base.pop("lexical")["file"]).unlink()
    conn.execute("UPDATE meta SET value = ? WHERE key = 'base'", (json.dumps(base),))
    conn.execute("DROP TABLE lex_delta")
    conn.commit()
    conn.close()
    with IndexReader(idx) as r:
        assert r._impacts is None
        _same_ranking(r.lexical(QUESTIONS[0], 10), want, rel=1e-5)
    report = check_index(idx)
    assert report.ok and any("rag index --compact" in n for n in report.notes)
    _write_extra(corpus, 3)
    build_index([corpus], idx, embedder=hashing)  # an update on such an index works as before
    compact_generation(gen, hashing.dim)
    with IndexReader(idx) as r:
        assert r._impacts is not None
        _same_ranking(r.lexical(QUESTIONS[0], 10), _fts(r, QUESTIONS[0], 10), rel=1e-5)
    assert check_index(idx).ok and not check_index(idx).notes


def test_a_damaged_impact_file_is_reported(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    lex_file = next(current_generation(idx).glob("base-*.lex"))
    with open(lex_file, "r+b") as fh:
        fh.truncate(lex_file.stat().st_size - 8)
    report = check_index(idx)
    assert not report.ok and any(".lex" in p for p in report.problems)
    with pytest.raises(Exception, match="rebuild"):
        IndexReader(idx)


def test_row_lengths_are_read_from_fts5s_varints():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(title, heading, text)")
    sizes = [(1, 0, 5), (3, 2, 127), (2, 0, 128), (1, 1, 300), (0, 0, 20_000)]
    for i, (a, b, c) in enumerate(sizes, start=1):
        conn.execute("INSERT INTO f(rowid, title, heading, text) VALUES (?, ?, ?, ?)",
                     (i * 10, " ".join(["t"] * a), " ".join(["h"] * b) or None, " ".join(["w"] * c)))
    ids = np.arange(1, len(sizes) + 1, dtype=np.int64) * 10
    assert lex._docsizes(conn, "f", ids).tolist() == [float(sum(x)) for x in sizes]
    with pytest.raises(lex.LexicalFileError):
        lex._docsizes(conn, "f", ids[:-1])
