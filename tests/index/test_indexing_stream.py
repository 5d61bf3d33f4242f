"""Streaming indexing: two passes, bounded memory, the same index as before.

The first pass reads each file once, learns each document's id and content hash and sets aside
the documents with a new hash (in memory up to KEEP_CHARS, then in a temporary file); the second
chunks and embeds them a batch at a time, reading again only a file whose document needs work
without having been set aside. Uses the fast hashing embedder."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

import rag.index.build as indexing
import rag.index.passes as passes
import rag.ingest.load as load
from rag import build_index, open_index
from rag.errors import InputError
from rag.stores.local.reader import IndexReader
from rag.types import Document


def _contents(index_dir: Path) -> tuple[list, dict]:
    reader = IndexReader(index_dir)
    try:
        docs = reader.documents()
        chunks = {d: [(c.chunk_id, c.start, c.end, c.heading, c.text) for c in reader.chunks_of(d)]
                  for d, *_ in docs}
    finally:
        reader.close()
    return docs, chunks


def _search(index_dir: Path) -> list:
    with open_index(index_dir, embedder="hashing-256") as idx:
        return [(h.chunk_id, round(h.score, 5), h.also_in)
                for h in idx.search("Which Vietnamese president welcomed Putin?", k=8)]


def _many(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        body = "\n\n".join(f"Story {i} paragraph {p} tells of harbour {i * 7 + p} and its ferries." for p in range(6))
        (folder / f"{i:03d}.txt").write_text(f"Headline number {i}\n\n{body}\n", encoding="utf-8")
    return folder


def _count_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    original = load._load_file

    def counted(path, doc_id, display):
        reads.append(path.name)
        return original(path, doc_id, display)

    monkeypatch.setattr(load, "_load_file", counted)
    return reads


@pytest.mark.parametrize("keep", [0, 2_000, 10**9])
def test_the_index_is_the_same_whether_documents_are_kept_or_spilled(corpus, tmp_path, hashing,
                                                                     monkeypatch, keep):
    """All in memory, some, or all in the temporary file: exactly the index of the same files."""
    (corpus / "copy.txt").write_bytes((corpus / "000_bddbedb021a4fb1e.txt").read_bytes())
    reference = tmp_path / "reference"
    build_index([corpus], reference, embedder=hashing)
    monkeypatch.setattr(passes, "KEEP_CHARS", keep)
    monkeypatch.setattr(passes, "EMBED_BATCH", 7)  # many small batches
    idx = tmp_path / "index"
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.documents == 6 and rep.duplicates == (("copy.txt", "000_bddbedb021a4fb1e.txt"),)
    assert _contents(idx) == _contents(reference)
    assert _search(idx) == _search(reference)
    assert [p.name for p in idx.iterdir() if "spill" in p.name] == [], "the temporary file is gone"


def _now_a_duplicate(corpus: Path) -> Path:
    """A new file, sorted first, with the text of an indexed one: that one becomes its duplicate,
    so it must be written again although its own text did not change."""
    copy = corpus / "0000_first.txt"
    copy.write_bytes((corpus / "002_7bf4c8803009745d.txt").read_bytes())
    return corpus / "002_7bf4c8803009745d.txt"


@pytest.mark.parametrize("keep", [0, 10**9])
def test_every_file_is_read_once_unless_an_unchanged_one_needs_writing_again(corpus, tmp_path, hashing,
                                                                             monkeypatch, keep):
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    changed = corpus / "004_3dab9c31b746d35e.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nOne more paragraph for the update.\n",
                       encoding="utf-8")
    (corpus / "new.txt").write_text("A new story\n\nFerries ran late in the harbour today.\n", encoding="utf-8")
    monkeypatch.setattr(passes, "KEEP_CHARS", keep)
    reads = _count_reads(monkeypatch)
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.changed == ("004_3dab9c31b746d35e.txt",) and rep.added == ("new.txt",)
    assert sorted(reads) == sorted(p.name for p in corpus.iterdir())

    reads.clear()
    now_duplicate = _now_a_duplicate(corpus)
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.changed == (now_duplicate.name,) and rep.added == ("0000_first.txt",)
    assert sorted(reads) == sorted([p.name for p in corpus.iterdir()] + [now_duplicate.name])
    with open_index(idx, embedder=hashing) as index:
        assert index.reader.chunks_of(now_duplicate.name) == [] and index.reader.chunks_of("0000_first.txt")


def test_documents_are_held_a_batch_at_a_time(tmp_path, hashing, monkeypatch):
    """With nothing kept in memory by the first pass, the documents alive while chunking stay a
    handful, not the folder (the former loader held all 40): the batch being chunked and the one
    being embedded on the worker thread."""
    folder = _many(tmp_path / "many", 40)
    monkeypatch.setattr(passes, "KEEP_CHARS", 0)
    monkeypatch.setattr(passes, "EMBED_BATCH", 2)  # about one document per batch
    alive: list[int] = []
    original = passes.chunk_document

    def chunk_and_count(doc, *args, **kwargs):
        gc.collect()
        # `type(o) is`, not isinstance: isinstance falls back on `o.__class__`, which some of torch's
        # module proxies answer with a FutureWarning (a deprecated attribute); Document has no subclass.
        alive.append(sum(type(o) is Document for o in gc.get_objects()))
        return original(doc, *args, **kwargs)

    monkeypatch.setattr(passes, "chunk_document", chunk_and_count)
    rep = build_index([folder], tmp_path / "index", embedder=hashing)
    assert rep.documents == 40 and len(alive) == 40
    assert max(alive) <= 4, alive


def test_a_file_changed_between_the_passes_writes_nothing(corpus, tmp_path, hashing, monkeypatch):
    """Only a file read again can be caught changing: set-aside documents are what was read."""
    idx = tmp_path / "index"
    build_index([corpus], idx, embedder=hashing)
    before = _search(idx)
    target = _now_a_duplicate(corpus)
    first_pass = indexing.scan_documents

    def scan_then_edit(*args, **kwargs):
        scan = first_pass(*args, **kwargs)
        target.write_text(target.read_text(encoding="utf-8") + "\n\nEdited meanwhile.\n", encoding="utf-8")
        return scan

    monkeypatch.setattr(indexing, "scan_documents", scan_then_edit)
    with pytest.raises(InputError, match="changed while it was being indexed"):
        build_index([corpus], idx, embedder=hashing)
    assert _search(idx) == before and not list(idx.glob(".tmp-*"))

    target.write_bytes((corpus / "0000_first.txt").read_bytes())

    def scan_then_delete(*args, **kwargs):
        scan = first_pass(*args, **kwargs)
        target.unlink()
        return scan

    monkeypatch.setattr(indexing, "scan_documents", scan_then_delete)
    with pytest.raises(InputError, match="could not be read again"):
        build_index([corpus], idx, embedder=hashing)
    assert _search(idx) == before and not list(idx.glob(".tmp-*"))
    monkeypatch.setattr(indexing, "scan_documents", first_pass)
    rep = build_index([corpus], idx, embedder=hashing)
    assert rep.removed == (target.name,) and rep.added == ("0000_first.txt",)


def test_iter_documents_only_reads_the_files_named_with_the_same_ids(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        (folder / "sub").mkdir(parents=True)
        (folder / "x.txt").write_text("X title\n\nSome text here.\n", encoding="utf-8")
        (folder / "sub" / "y.md").write_text("# Y title\n\nOther text there.\n", encoding="utf-8")
    full = {r.path: [d.id for d in r.documents] for r in load.iter_documents([a, b, tmp_path / "missing"])}
    only = {str(b / "sub" / "y.md")}
    part = {r.path: [d.id for d in r.documents] for r in load.iter_documents([a, b, tmp_path / "missing"], only=only)}
    assert part == {p: ids for p, ids in full.items() if p in only} == {str(b / "sub" / "y.md"): ["b/sub/y.md"]}
