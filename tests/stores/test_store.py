"""The store under stress: readers during writes, updates without copies, compaction, damage and
repair, and killed writers. Uses the fast hashing embedder."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from rag import build_index, open_index
from rag.errors import IndexCorruptError, RagError
from rag.stores.local.compaction import compact_generation
from rag.stores.local.doctor import check_index
from rag.stores.local.generations import DB, current_generation
from rag.stores.local.reader import IndexReader
from rag.stores.local.writer import IndexLock

QUESTION = "Which Vietnamese president welcomed Putin?"


def _write_extra(corpus: Path, i: int) -> None:
    (corpus / f"extra_{i % 7}.txt").write_text(
        f"Update number {i}\n\n" + " ".join(f"Trade talks round {i}{j} covered rice{j * i} and ports."
                                            for j in range(30)), encoding="utf-8")


def test_readers_never_break_while_a_writer_commits_50_updates(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    errors: list[str] = []
    answers = [0]
    stop = threading.Event()
    long_lived = open_index(idx, embedder="hashing-256")  # opened before every write below

    def reader() -> None:
        while not stop.is_set():
            try:
                with open_index(idx, embedder="hashing-256") as i:
                    hits = i.search(QUESTION, k=5)
                    rows = i.reader.chunk_rows([int(r) for r, _ in i.reader.dense(
                        i.embedder.embed([QUESTION]), 20)[0]])
                    if len(hits) != 5 or len(rows) != 20:
                        errors.append(f"incomplete answer: {len(hits)} hits, {len(rows)} rows")
                answers[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure is what this test counts
                errors.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        import rag.stores.local.compaction as compaction

        defaults = compaction.COMPACT_MIN_ROWS, compaction.COMPACT_SHARE
        for i in range(50):
            _write_extra(corpus, i)
            # Every third update also compacts (a new base vector file replaces the leased one);
            # every tenth write is a full rebuild (the reader's generation is replaced).
            compaction.COMPACT_MIN_ROWS, compaction.COMPACT_SHARE = (0, 0.0) if i % 3 == 2 else defaults
            try:
                build_index([corpus], idx, embedder=hashing, rebuild=(i % 10 == 9))
            finally:
                compaction.COMPACT_MIN_ROWS, compaction.COMPACT_SHARE = defaults
            assert long_lived.search(QUESTION, k=5), "a reader opened before the writes still answers"
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert long_lived.reader.gen.exists(), "a leased generation is not deleted"
    long_lived.close()
    assert errors == []
    assert answers[0] > 0
    assert check_index(idx).ok, "50 updates later the stored counts and vectors still agree"
    build_index([corpus], idx, embedder=hashing, rebuild=True)  # the next writer removes it once free
    assert len(list(idx.glob("gen-*"))) == 1


def test_an_update_is_in_place_and_matches_a_fresh_build(corpus, tmp_path, hashing):
    idx, fresh = tmp_path / "index", tmp_path / "fresh"
    build_index([corpus], idx, embedder=hashing)
    gen = current_generation(idx)
    base_size = (gen / "base-000001.f32").stat().st_size
    for i in range(3):
        _write_extra(corpus, i)
    (corpus / "000_bddbedb021a4fb1e.txt").unlink()
    build_index([corpus], idx, embedder=hashing)
    assert current_generation(idx) == gen and (gen / "base-000001.f32").stat().st_size == base_size
    build_index([corpus], fresh, embedder=hashing)

    def ranking(index_dir: Path) -> list:
        with open_index(index_dir, embedder="hashing-256") as i:
            return [(h.chunk_id, round(h.score, 5)) for h in i.search("trade talks rice ports", k=8)]

    # Until compaction, lexical scores of the updated index use the base's average chunk length
    # (rag/stores/local/lexical.py), so they may differ from a fresh build's in the fourth digit; the order not.
    updated, built = ranking(idx), ranking(fresh)
    assert [c for c, _ in updated] == [c for c, _ in built]
    assert [s for _, s in updated] == pytest.approx([s for _, s in built], rel=1e-3)
    with IndexReader(idx) as r:
        assert len(r._delta_ids) > 0 and len(r._tombstones) > 0
    with IndexLock(idx):
        info = compact_generation(gen, 256)
    assert info["name"] == "base-000002" and not (gen / "base-000001.f32").exists()
    with IndexReader(idx) as r:
        assert len(r._delta_ids) == 0 and len(r._tombstones) == 0
    assert ranking(idx) == ranking(fresh)
    assert check_index(idx).ok


def _damage_current_garbage(idx: Path) -> None:
    (idx / "CURRENT").write_bytes(b"\xff\xfe garbage")


def _damage_current_missing_gen(idx: Path) -> None:
    (idx / "CURRENT").write_text("gen-000099\n")


def _damage_truncated_sqlite(idx: Path) -> None:
    db = current_generation(idx) / DB
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)


def _damage_manifest(idx: Path) -> None:
    conn = sqlite3.connect(current_generation(idx) / DB)
    conn.execute("UPDATE meta SET value = '{not json' WHERE key = 'manifest'")
    conn.commit()
    conn.close()


def _damage_vectors(idx: Path) -> None:
    gen = current_generation(idx)
    (gen / "base-000001.faiss").write_bytes(b"not a faiss index")


def _damage_lost_vectors(idx: Path) -> None:
    gen = current_generation(idx)
    for p in gen.glob("base-*"):
        p.unlink()


def _damage_lost_impacts(idx: Path) -> None:
    next(current_generation(idx).glob("base-*.lex")).unlink()


def _damage_impacts_garbage(idx: Path) -> None:
    lex_file = next(current_generation(idx).glob("base-*.lex"))
    lex_file.write_bytes(b"\x00" * lex_file.stat().st_size)


def _damage_sqlite_garbage(idx: Path) -> None:
    db = current_generation(idx) / DB
    data = bytearray(db.read_bytes())
    data[4096:8192] = b"\x00" * 4096
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [
    _damage_current_garbage, _damage_current_missing_gen, _damage_truncated_sqlite, _damage_manifest,
    _damage_vectors, _damage_lost_vectors, _damage_sqlite_garbage, _damage_lost_impacts,
    _damage_impacts_garbage,
])
def test_any_damage_is_reported_and_rebuild_repairs_it(corpus, tmp_path, hashing, damage):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    assert check_index(idx).ok
    damage(idx)
    rep = check_index(idx)
    assert not rep.ok and rep.problems
    assert rep.fix is not None and "--rebuild" in rep.fix
    with pytest.raises(RagError, match="rag index --rebuild"):
        with open_index(idx, embedder="hashing-256") as i:
            i.search(QUESTION, k=3)
            i.search(QUESTION, k=3, retrieval="lexical")
            i.reader.documents()
    built = build_index([corpus], idx, embedder=hashing, rebuild=True)
    assert built.written and check_index(idx).ok
    with open_index(idx, embedder="hashing-256") as i:
        assert i.search(QUESTION, k=3)


def test_the_generation_stamp_changes_with_every_commit_and_only_then(corpus, tmp_path, hashing):
    """What a long-lived reader (`rag serve`) compares to know when to reopen the index."""
    from rag.stores import generation_stamp

    idx = tmp_path / "index"
    assert generation_stamp(idx) is None and generation_stamp("milvus://127.0.0.1:19530/news") is None
    build_index([corpus], idx, embedder=hashing)
    first = generation_stamp(idx)
    assert first is not None and first == generation_stamp(idx)
    with IndexReader(idx) as reader:
        assert reader.generation == first[0]  # the snapshot names the generation it reads
    build_index([corpus], idx, embedder=hashing)  # nothing changed: nothing written
    assert generation_stamp(idx) == first
    _write_extra(corpus, 1)
    build_index([corpus], idx, embedder=hashing)  # an update: a transaction on the same generation
    second = generation_stamp(idx)
    assert second != first and second[0] == first[0]
    build_index([corpus], idx, embedder=hashing, rebuild=True)  # a full build: a new generation
    assert generation_stamp(idx)[0] != first[0]


def test_check_cli_says_what_is_wrong_and_the_fix(corpus, tmp_path, hashing):
    from typer.testing import CliRunner

    from rag.cli.commands import app

    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    runner = CliRunner()
    ok = runner.invoke(app, ["index", "--check", "--index-dir", str(idx)])
    assert ok.exit_code == 0 and "is sound" in ok.output
    _damage_lost_vectors(idx)
    bad = runner.invoke(app, ["index", "--check", "--index-dir", str(idx)])
    assert bad.exit_code == 1
    assert "base-000001.faiss is missing" in bad.output
    assert f"fix: rag index {corpus.resolve()} --index-dir {idx} --rebuild" in bad.output
    fixed = runner.invoke(app, ["index", str(corpus), "--index-dir", str(idx), "--rebuild",
                                "--embedder", "hashing-256"])
    assert fixed.exit_code == 0, fixed.output
    assert runner.invoke(app, ["index", "--check", "--index-dir", str(idx)]).exit_code == 0


def test_damaged_lexical_index_is_found(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    conn = sqlite3.connect(current_generation(idx) / DB)
    conn.execute("DELETE FROM chunks_fts_data WHERE id > 10")  # the FTS5 index's own pages
    conn.commit()
    conn.close()
    rep = check_index(idx)
    assert any("lexical (FTS5) index is damaged" in p for p in rep.problems), rep.problems


def test_damaged_content_hash_is_found(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    conn = sqlite3.connect(current_generation(idx) / DB)
    conn.execute("UPDATE documents SET text = text || 'x' WHERE doc_id = '001_1a038a3a5eae4988.txt'")
    conn.commit()
    conn.close()
    rep = check_index(idx)
    assert any("content hash" in p and "001_1a038a3a5eae4988.txt" in p for p in rep.problems)


def test_a_failed_full_build_leaves_the_old_generation_answering(corpus, tmp_path, hashing, monkeypatch):
    import rag.stores.local.writer as writer

    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    with open_index(idx, embedder="hashing-256") as i:
        before = [h.chunk_id for h in i.search(QUESTION, k=3)]

    def boom(*a, **k):
        raise OSError("disk full (simulated) just before the switch")

    monkeypatch.setattr(writer, "switch_current", boom)
    with pytest.raises(OSError):
        build_index([corpus], idx, embedder=hashing, rebuild=True)
    monkeypatch.undo()
    with open_index(idx, embedder="hashing-256") as i:
        assert [h.chunk_id for h in i.search(QUESTION, k=3)] == before
    build_index([corpus], idx, embedder=hashing, rebuild=True)
    assert len(list(idx.glob("gen-*"))) == 1 and not list(idx.glob(".tmp-*"))


def test_approximate_index_above_the_threshold_keeps_recall(tmp_path, monkeypatch):
    """IVF-SQ8 is chosen above ANN_MIN_VECTORS and its nprobe calibrated to the recall target."""
    import rag.stores.local.compaction as compaction
    from rag.stores.local.writer import GenerationWriter
    from rag.types import Chunk, Document

    monkeypatch.setattr(compaction, "ANN_MIN_VECTORS", 2_000)
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((40, 32)).astype(np.float32)
    vecs = centers[rng.integers(0, 40, 5_000)] + 0.3 * rng.standard_normal((5_000, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    idx = tmp_path / "index"
    with IndexLock(idx):
        w = GenerationWriter(idx, None, 32)
        for d in range(500):
            doc = Document(id=f"d{d}", title=f"t{d}", text="x", source="s", sha256=f"{d:064x}")
            w.add_document(doc, None)
            w.add_chunks(doc.title, [Chunk(id=f"d{d}#{n}", doc_id=doc.id, n=n, text=f"w{n}", start=0, end=1)
                                     for n in range(10)], vecs[d * 10:(d + 1) * 10])
        w.commit({"embedder": {"name": "synthetic", "dim": 32, "max_tokens": 1}, "chunking": {},
                  "lexical": {}, "sources": []})
    with IndexReader(idx) as r:
        assert r._base_meta["kind"] == "ivf-sq8" and r.nprobe >= 1
        q = vecs[:50] + 0.05 * rng.standard_normal((50, 32)).astype(np.float32)
        got = r.dense(q, 10)
        exact = np.argsort(-(q @ vecs.T), axis=1)[:, :10] + 1  # row ids start at 1
        recall = np.mean([len({i for i, _ in g} & set(e)) / 10 for g, e in zip(got, exact)])
    assert recall >= 0.9


def test_reader_errors_are_rag_errors_with_advice(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    gen = current_generation(idx)
    shutil.rmtree(gen)
    with pytest.raises(IndexCorruptError, match="rag index --rebuild"):
        IndexReader(idx)
    (idx / "CURRENT").unlink()
    rep = check_index(idx)
    assert not rep.ok and "CURRENT is missing" in rep.problems[0]
    assert json.loads(json.dumps(rep.__dict__))


def test_killed_writers_leave_old_or_new_state(tmp_path):
    """A few of benchmarks/bench_crash.py's trials (the benchmark runs 60)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_crash", Path(__file__).resolve().parents[2] / "benchmarks" / "bench_crash.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_crash"] = bench
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    results = bench.run_trials(3, docs=40, seed=3, work=tmp_path)
    assert [r.state for r in results if r.state not in ("old", "new")] == []
    assert len(results) == 3


def test_repair_of_a_broken_current_keeps_embedder_sources_and_old_generation(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    (idx / "CURRENT").write_text("garbage\n")
    rep = check_index(idx)
    assert rep.fix == f"rag index {corpus.resolve()} --index-dir {idx} --rebuild"
    from rag.stores.local.writer import GenerationWriter

    with IndexLock(idx):
        GenerationWriter(idx, None, 256).abort()  # a writer starting up removes no generation
    assert (idx / "gen-000001").is_dir(), "kept while CURRENT is damaged"
    built = build_index([corpus], idx, rebuild=True)  # no embedder named: the old one is kept
    assert built.embedder == "hashing-256"
    assert [p.name for p in idx.glob("gen-*")] == ["gen-000002"] and check_index(idx).ok
