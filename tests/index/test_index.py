"""The index on disk: incremental updates, atomic writes (a killed run), embedder mismatch,
one writer at a time. Uses the fast hashing embedder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rag import build_index, open_index
from rag.errors import IndexBusyError, IndexMismatchError, InputError, NoIndexError
from rag.stores.local.generations import current_generation
from rag.stores.local.writer import IndexLock


def _answers_like_before(index_dir: Path, before: list) -> None:
    with open_index(index_dir, embedder="hashing-256") as idx:
        after = idx.search("Which Vietnamese president welcomed Putin?", k=3)
    assert [(h.chunk_id, round(h.score, 6)) for h in after] == before


def _search(index_dir: Path) -> list:
    with open_index(index_dir, embedder="hashing-256") as idx:
        return [(h.chunk_id, round(h.score, 6))
                for h in idx.search("Which Vietnamese president welcomed Putin?", k=3)]


def test_build_then_unchanged_rerun_embeds_nothing(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    first = build_index([corpus], idx, embedder=hashing)
    assert first.written and first.documents == 5 and first.embedded_chunks == first.chunks > 20
    again = build_index([corpus], idx, embedder=hashing)
    assert not again.written and again.embedded_chunks == 0 and again.unchanged == 5
    assert again.chunks == first.chunks


def test_changed_deleted_added_and_identical_files(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    gen1 = current_generation(idx)
    changed = corpus / "004_3dab9c31b746d35e.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nA new closing paragraph was added to the story today.\n",
                       encoding="utf-8")
    (corpus / "001_1a038a3a5eae4988.txt").unlink()
    (corpus / "copy_of_000.txt").write_bytes((corpus / "000_bddbedb021a4fb1e.txt").read_bytes())
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.changed == ("004_3dab9c31b746d35e.txt",)
    assert rep.removed == ("001_1a038a3a5eae4988.txt",)
    assert rep.added == ("copy_of_000.txt",)
    assert rep.duplicates == (("copy_of_000.txt", "000_bddbedb021a4fb1e.txt"),)
    with open_index(idx, embedder=hashing) as index:
        chunks_004 = index.reader.chunks_of("004_3dab9c31b746d35e.txt")
        assert rep.embedded_chunks == len(chunks_004), "only the changed file was embedded"
        assert index.reader.chunks_of("001_1a038a3a5eae4988.txt") == []
        assert index.reader.chunks_of("copy_of_000.txt") == [], "identical files are indexed once"
        assert any("new closing paragraph" in c.text for c in chunks_004)
        hits = index.search("Alexander Vuving professor Honolulu", k=10)
        assert len({h.chunk_id for h in hits}) == len(hits)
        top_000 = [h for h in hits if h.doc_id == "000_bddbedb021a4fb1e.txt"]
        assert top_000 and "copy_of_000.txt" in top_000[0].also_in
    assert current_generation(idx) == gen1, "an update is a transaction on the live generation"
    assert [p.name for p in idx.glob("gen-*")] == [gen1.name] and not list(idx.glob(".tmp-*"))


def test_renamed_file_reuses_its_vectors(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    (corpus / "002_7bf4c8803009745d.txt").rename(corpus / "renamed.txt")
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.embedded_chunks == 0 and rep.reused_chunks > 0
    assert rep.added == ("renamed.txt",) and rep.removed == ("002_7bf4c8803009745d.txt",)


def _date_it(path: Path, dateline: str) -> None:
    """Give an article a dateline under its title: its text stays the same, its date changes."""
    title, rest = path.read_text(encoding="utf-8").split("\n", 1)
    path.write_text(f"{title}\n\n{dateline}\n{rest}", encoding="utf-8")


def test_a_new_date_on_unchanged_text_is_written_without_embedding(corpus, tmp_path, hashing):
    # E.g. an index built before the ingest code read datelines: the date must not stay missing.
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    f = corpus / "002_7bf4c8803009745d.txt"
    _date_it(f, "June 20, 2024, 10:15 a.m. ET")
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.changed == (f.name,) and rep.unchanged == 4
    assert rep.embedded_chunks == 0 and rep.reused_chunks > 0  # same text: its vectors serve again
    with open_index(idx, embedder=hashing) as index:
        assert index.reader.doc_dates([f.name]) == {f.name: "2024-06-20"}
    assert not build_index([corpus], idx, embedder=hashing).written


def test_failure_while_writing_leaves_previous_index_working(corpus, tmp_path, hashing, monkeypatch):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    before = _search(idx)
    (corpus / "000_bddbedb021a4fb1e.txt").unlink()

    import rag.stores.local.writer as store

    def boom(*a, **k):
        raise OSError("disk full (simulated) just before the commit")

    monkeypatch.setattr(store.GenerationWriter, "_set_meta", boom)
    with pytest.raises(OSError):
        build_index([corpus], idx, embedder=hashing)
    monkeypatch.undo()
    _answers_like_before(idx, before)
    # The next run cleans up and succeeds.
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.removed == ("000_bddbedb021a4fb1e.txt",)
    assert not list(idx.glob(".tmp-*")) and len(list(idx.glob("gen-*"))) == 1


def test_killed_indexing_run_leaves_previous_index_answering(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    before = _search(idx)
    for i in range(30):
        (corpus / f"extra_{i}.txt").write_text(f"Extra article {i}\n\n" + "Some words about trade. " * 40,
                                               encoding="utf-8")
    marker = tmp_path / "embedding-started"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from rag import build_index
        from rag.index.embedding import HashingEmbedder

        class Slow(HashingEmbedder):
            def embed(self, texts, **kw):
                Path({str(marker)!r}).touch()
                time.sleep(60)
                return super().embed(texts, **kw)

        build_index([{str(corpus)!r}], {str(idx)!r}, embedder=Slow())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    deadline = time.time() + 60
    while not marker.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert marker.exists(), "the indexing run did not start embedding"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _answers_like_before(idx, before)
    rep = build_index([corpus], idx, embedder=hashing)  # the lock died with the process
    assert len(rep.added) == 30


def test_opening_with_another_embedder_is_a_clear_error(corpus, tmp_path, hashing):
    from rag.index.embedding import HashingEmbedder

    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    with pytest.raises(IndexMismatchError, match="built with embedder 'hashing-256'"):
        open_index(idx, embedder=HashingEmbedder(dim=128))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        build_index([corpus], idx, embedder=HashingEmbedder(dim=128))
    rep = build_index([corpus], idx, embedder=HashingEmbedder(dim=128), rebuild=True)
    assert rep.rebuilt and rep.embedder == "hashing-128"


def test_one_writer_at_a_time(corpus, tmp_path, hashing):
    idx = tmp_path / "index"
    with IndexLock(idx):
        with pytest.raises(IndexBusyError):
            build_index([corpus], idx, embedder=hashing)


def test_no_index_and_nothing_to_index(tmp_path, hashing):
    with pytest.raises(NoIndexError, match="rag index"):
        open_index(tmp_path / "nothing-here")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="nothing could be indexed"):
        build_index([empty], tmp_path / "index", embedder=hashing)
    assert not (tmp_path / "index" / "CURRENT").exists()
