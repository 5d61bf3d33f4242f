"""The indexing pipeline: embedding on a worker thread while the next batch is chunked, batches
embedded in parallel, and every chunk still getting the vector of its own passage text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag import build_index, open_index
from rag.index import passes as indexing
from rag.index.batching import embed_by_length
from rag.index.chunking import passage_text
from rag.index.embedding import HashingEmbedder
from tests.fakes import CountingEmbedder

WORDS = ("harbour", "budget", "river", "school", "bridge", "museum", "railway", "clinic", "market",
         "library", "tunnel", "park", "airport", "stadium", "theatre", "garden")


def _corpus(folder: Path, n: int) -> Path:
    """`n` articles sharing a long body (its passages repeat from file to file, so from batch to
    batch) and each ending in a passage of its own."""
    folder.mkdir()
    body = " ".join(f"Item {j} of the agenda covered the {WORDS[j % 16]} and the {WORDS[(j * 7) % 16]} "
                    f"near the {WORDS[(j * 3) % 16]} for {j} weeks." for j in range(60))
    for i in range(n):
        tail = " ".join(f"Article {i} closes with the {WORDS[(i + k) % 16]} number {i * 10 + k}."
                        for k in range(30))
        (folder / f"{i:02d}.txt").write_text(f"Minutes\n\n{body}\n\n{tail}\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("seen_texts", [0, 20_000])
def test_every_chunk_gets_its_own_vector_across_pipelined_batches(tmp_path, monkeypatch, seen_texts):
    monkeypatch.setattr(indexing, "EMBED_BATCH", 3)  # a batch or so per document: repeats cross batches
    monkeypatch.setattr(indexing, "SEEN_TEXTS", seen_texts)
    emb = CountingEmbedder()
    report = build_index([_corpus(tmp_path / "docs", 8)], tmp_path / "index", embedder=emb)
    assert report.documents == 8 and report.embedded_chunks == report.chunks
    assert report.embedded_texts == len(emb.seen)
    if seen_texts:  # without the memory of vectors, a repeat two batches apart is embedded again
        assert len(emb.seen) == len(set(emb.seen)), "no text embedded twice"
        distinct = set()
        with open_index(tmp_path / "index", embedder=emb) as idx:
            for i in range(8):
                distinct |= {passage_text(c.title, c.heading, c.text) for c in idx.reader.chunks_of(f"{i:02d}.txt")}
        assert report.embedded_texts == len(distinct) < report.chunks
    plain = HashingEmbedder(dim=64)
    with open_index(tmp_path / "index", embedder=emb) as idx:
        for i in range(8):
            for c in idx.reader.chunks_of(f"{i:02d}.txt"):
                text = passage_text(c.title, c.heading, c.text)
                [[(rowid, score)]] = idx.reader.dense(plain.embed([text]), 1)
                best = idx.reader.chunk_rows([rowid])[rowid]
                assert score > 0.9999 and passage_text(best.title, best.heading, best.text) == text


def test_an_embedder_error_on_the_worker_reaches_the_caller_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(indexing, "EMBED_BATCH", 3)
    docs = _corpus(tmp_path / "docs", 6)
    build_index([docs], tmp_path / "index", embedder=HashingEmbedder(dim=64))

    class Failing(HashingEmbedder):
        calls = 0

        def embed(self, texts, *, batch_size=64, progress=None):  # type: ignore[no-untyped-def]
            Failing.calls += 1
            if Failing.calls == 3:
                raise RuntimeError("the model failed")
            return super().embed(texts, batch_size=batch_size, progress=progress)

    for p in docs.iterdir():
        p.write_text(p.read_text(encoding="utf-8") + "\nAn added line.\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="the model failed"):
        build_index([docs], tmp_path / "index", embedder=Failing(dim=64))
    assert build_index([docs], tmp_path / "index", embedder=HashingEmbedder(dim=64)).changed  # old index kept


@pytest.mark.parametrize("workers", [1, 3])
def test_parallel_batches_keep_rows_in_order_and_report_progress(workers):
    texts = [" ".join(WORDS[: 1 + i % 16]) + f" {i}" for i in range(50)]
    plain = HashingEmbedder(dim=32)
    seen: list[tuple[int, int]] = []
    out = embed_by_length(texts, 32, 4, lambda batch: plain.embed(batch), lambda d, t: seen.append((d, t)),
                          workers=workers)
    assert np.array_equal(out, plain.embed(texts))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (50, 50)
