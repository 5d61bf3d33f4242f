"""`rag.ingest.files`: every kind of bad file (binary, empty, unreadable, unsupported) is a
problem that names it, and the good files still load. Hostile files: test_hostile_files.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.ingest import load_documents

from .ingest_data import GOOD_ARTICLE, _assert_problem_for


def test_bad_files_are_problems_and_good_files_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (folder / "latin1.txt").write_bytes("Café\n\nUn résumé très détaillé.\n".encode("latin-1"))
    (folder / "empty.txt").write_text("  \n\n", encoding="utf-8")
    (folder / "title_only.txt").write_text("Just a headline\n", encoding="utf-8")
    (folder / "furniture.txt").write_text(
        "Subscribe now to keep reading\n\nSign in or create a free account\n\n"
        "We use cookies to improve your experience. Accept all cookies\n\n"
        "© 2024 Example News. All rights reserved.\n",
        encoding="utf-8",
    )
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")  # unsupported: skipped silently
    empty_folder = tmp_path / "nothing_here"
    empty_folder.mkdir()
    (empty_folder / "readme.rst").write_text("not an article", encoding="utf-8")
    missing = tmp_path / "missing"

    result = load_documents([folder])
    # A Latin-1 file is read (decoded as Windows-1252, its superset), with the decision noted.
    assert [d.id for d in result.documents] == ["good.txt", "latin1.txt"]
    assert result.documents[1].text == "Un résumé très détaillé."
    assert [Path(n.path).name for n in result.notes] == ["latin1.txt"]
    assert "decoded as cp1252" in result.notes[0].message
    assert result.files_seen == 6
    _assert_problem_for(result, "binary.txt", "binary")
    _assert_problem_for(result, "empty.txt", "empty")
    _assert_problem_for(result, "title_only.txt", "no article text")
    _assert_problem_for(result, "furniture.txt", "only page furniture")
    assert len(result.problems) == 4

    result = load_documents([missing])
    assert result.documents == [] and result.files_seen == 0
    _assert_problem_for(result, "missing", "no such file")

    result = load_documents([empty_folder, folder])
    assert [d.id for d in result.documents] == ["corpus/good.txt", "corpus/latin1.txt"]
    _assert_problem_for(result, "nothing_here", "no supported files")


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    locked = tmp_path / "locked.txt"
    locked.write_text(GOOD_ARTICLE, encoding="utf-8")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running with privileges that read a chmod 000 file anyway")
        result = load_documents([tmp_path])
        assert [d.id for d in result.documents] == ["good.txt"]
        _assert_problem_for(result, "locked.txt", "permission denied")
    finally:
        locked.chmod(0o644)


def test_permission_error_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same path as the chmod test, for when the tests run as root.
    (tmp_path / "good.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / "locked.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    real_open = os.open

    def fake_open(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)).name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["good.txt"]
    _assert_problem_for(result, "locked.txt", "permission denied")


def test_unsupported_file_given_directly(tmp_path: Path) -> None:
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    result = load_documents([pdf])
    _assert_problem_for(result, "paper.pdf", "unsupported")
