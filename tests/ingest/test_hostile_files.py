"""Hostile and odd files: links out of the folder, FIFOs, devices, sockets, files larger than
they say, legacy encodings, stray NUL bytes, a reader library that cannot be imported, and
pathological text. Each is reported or read, the other files still load, nothing hangs."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from rag.index.chunking import chunk_document
from rag.index.embedding import HashingEmbedder
from rag.ingest import files as ingest_files
from rag.ingest import iter_documents, load_documents
from rag.ingest.files import FileProblem, read_file

ARTICLE = (
    "Bridge closes\n\n"
    "The council voted on Tuesday to close the old bridge to cars.\n\n"
    "The mayor said repairs would take two years and cost about $40 million.\n"
)


def _messages(result) -> str:
    return "\n".join(p.message for p in result.problems)


def test_links_out_of_the_folder_are_reported_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("Secret\n\nThe password is swordfish.\n", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(ARTICLE, encoding="utf-8")
    (corpus / "secret.txt").symlink_to(outside / "secret.txt")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "zero.txt").symlink_to("/dev/zero")
    (corpus / "linked_folder").symlink_to(outside, target_is_directory=True)
    (corpus / "sub").mkdir()
    (corpus / "sub" / "inside.txt").symlink_to(corpus / "good.txt")  # inside: followed

    result = load_documents([corpus])
    assert [d.id for d in result.documents] == ["good.txt", "sub/inside.txt"]
    assert not any("swordfish" in d.text or "root:" in d.text for d in result.documents)
    messages = _messages(result)
    for name in ("secret.txt", "passwd.txt", "zero.txt"):
        assert f"{name}: is a symbolic link to" in messages
    assert "outside the folder being indexed; not followed" in messages
    assert "linked_folder: is a symbolic link to a folder" in messages


def test_fifos_sockets_and_devices_are_skipped_without_blocking(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(ARTICLE, encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.txt")  # reading it would wait for a writer forever
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock.txt"))
    except OSError:
        pytest.skip("cannot create a UNIX socket here")
    try:
        result = load_documents([tmp_path])
    finally:
        sock.close()
    assert [d.id for d in result.documents] == ["good.txt"]
    messages = _messages(result)
    assert "pipe.txt: is a FIFO (named pipe), not a regular file; skipped" in messages
    assert "sock.txt: is a socket, not a regular file; skipped" in messages
    # A FIFO or a device named directly is refused too, and opening one never blocks.
    with pytest.raises(FileProblem, match="FIFO"):
        read_file(tmp_path / "pipe.txt")
    with pytest.raises(FileProblem, match="device"):
        read_file(Path("/dev/zero"))
    assert "not a regular file" in _messages(load_documents([Path("/dev/zero")]))


def test_the_size_limit_counts_bytes_read_not_the_size_stat_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc = Path("/proc/self/maps")  # stat says 0 bytes; reading gives kilobytes
    if proc.exists() and proc.stat().st_size == 0:
        with pytest.raises(FileProblem, match="too large"):
            read_file(proc, limit=100)
    monkeypatch.setattr(ingest_files, "MAX_FILE_BYTES", 1000)
    (tmp_path / "big.txt").write_text("Big\n\n" + "A sentence of the article. " * 100, encoding="utf-8")
    (tmp_path / "good.txt").write_text(ARTICLE, encoding="utf-8")
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["good.txt"]
    assert "big.txt is too large to be an article" in _messages(result)


def test_legacy_encodings_and_stray_nuls_are_read_and_the_decision_is_noted(tmp_path: Path) -> None:
    text = "Café prices\n\nThe café’s owner said “prices rose” — by 5 € — in São Paulo.\n"
    (tmp_path / "cp1252.txt").write_bytes(text.encode("cp1252"))
    (tmp_path / "latin1.txt").write_bytes(
        "Crème brûlée\n\nLe chef a préparé une crème brûlée à Noël.\n".encode("latin-1")
    )
    (tmp_path / "nul.txt").write_bytes(ARTICLE.encode("utf-8").replace(b"bridge", b"bri\x00dge", 1))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    result = load_documents([tmp_path])
    docs = {d.id: d for d in result.documents}
    assert sorted(docs) == ["cp1252.txt", "latin1.txt", "nul.txt"]
    assert docs["cp1252.txt"].text == "The café’s owner said “prices rose” — by 5 € — in São Paulo."
    assert docs["latin1.txt"].text == "Le chef a préparé une crème brûlée à Noël."
    assert "old bridge to cars" in docs["nul.txt"].text
    notes = {Path(n.path).name: n.message for n in result.notes}
    assert "decoded as cp1252" in notes["cp1252.txt"] and "decoded as cp1252" in notes["latin1.txt"]
    assert "1 stray NUL byte dropped" in notes["nul.txt"]
    assert "binary" in _messages(result)


def test_a_reader_that_cannot_import_its_library_costs_only_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "b.html").write_text(
        "<html><body><article><p>The council voted on Tuesday to close the old bridge.</p>"
        "</article></body></html>",
        encoding="utf-8",
    )
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # `import trafilatura` fails
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["a.txt"]
    assert "b.html cannot be read: the HTML reader failed to import" in _messages(result)


def test_iter_documents_yields_one_result_per_file_in_order(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "b.txt").write_text("", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(
        '{"id": "1", "text": "The first record of the file."}\n'
        '{"id": "2", "text": "The second record of the file."}\n',
        encoding="utf-8",
    )
    results = list(iter_documents([tmp_path, tmp_path / "missing"]))
    assert [(Path(r.path).name, r.counted) for r in results] == [
        ("missing", False), ("a.txt", True), ("b.txt", True), ("c.jsonl", True)
    ]
    assert [len(r.documents) for r in results] == [0, 1, 0, 2]
    assert [len(r.problems) for r in results] == [1, 0, 1, 0]


def test_a_line_of_megabytes_without_a_space_is_cut_into_passages(tmp_path: Path) -> None:
    (tmp_path / "long.txt").write_text("Long line\n\n" + "x" * 2_000_000 + "\n", encoding="utf-8")
    doc = load_documents([tmp_path]).documents[0]
    chunks = chunk_document(doc, HashingEmbedder().count_tokens)
    assert len(chunks) > 100
    assert max(len(c.text) for c in chunks) <= 256 * 16
    assert "".join(c.text for c in chunks) == doc.text  # nothing lost, nothing repeated


def test_a_file_of_one_repeated_sentence_is_chunked(tmp_path: Path) -> None:
    sentence = "The quick brown fox jumps over the lazy dog near the river bank today. "
    (tmp_path / "rep.txt").write_text("Repeated\n\n" + sentence * 20_000, encoding="utf-8")
    doc = load_documents([tmp_path]).documents[0]
    chunks = chunk_document(doc, HashingEmbedder().count_tokens)
    assert len(chunks) > 1000
    assert all(doc.text[c.start:c.end] == c.text for c in chunks)
    assert chunks[-1].end == len(doc.text)
