"""The chunker's version is part of an index's chunking parameters: an index made by another
version is re-chunked (rebuilt) by the next `build_index`, even when no file changed."""

from __future__ import annotations

import rag.index.chunking as chunking
from rag import build_index
from rag.index.chunking import split_sentences


def test_a_period_after_an_emphasis_mark_follows_the_abbreviation_rules():
    # Version 3: the word before the period is seen through '*' ("**Jan**. 6", "an A*."), so
    # plain-text articles holding such marks split into other sentences, hence other chunks.
    text = "She earned an A*. Then she left. Talks began on **Jan**. 6 in Hanoi."
    assert [text[s.start:s.end] for s in split_sentences(text)] == [
        "She earned an A*. Then she left.", "Talks began on **Jan**. 6 in Hanoi."]
    assert chunking.CHUNKER_VERSION == 3


def test_an_index_chunked_by_another_version_is_rebuilt(corpus, tmp_path, hashing, monkeypatch):
    idx = tmp_path / "index"
    monkeypatch.setattr(chunking, "CHUNKER_VERSION", 2)
    old = build_index([corpus], idx, embedder=hashing)
    monkeypatch.undo()
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.written and rep.rebuilt and rep.embedded_chunks == rep.chunks == old.chunks
    again = build_index([corpus], idx, embedder=hashing)
    assert not again.written and again.unchanged == 5


def test_a_rebuild_for_another_chunking_reads_each_file_once(corpus, tmp_path, hashing, monkeypatch):
    import rag.ingest.load as load

    idx = tmp_path / "index"
    monkeypatch.setattr(chunking, "CHUNKER_VERSION", 2)
    build_index([corpus], idx, embedder=hashing)
    monkeypatch.undo()
    reads: list[str] = []
    original = load._load_file
    monkeypatch.setattr(load, "_load_file", lambda path, *a: reads.append(path.name) or original(path, *a))
    assert build_index([corpus], idx, embedder=hashing).rebuilt
    assert sorted(reads) == sorted(p.name for p in corpus.iterdir())
