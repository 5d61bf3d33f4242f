"""`rag index` as a user sees it: problems and encoding notes each said once, and what it does
when no folder is given (the index's own sources, else seeds/, else a clear error)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag.cli.commands as cli
from rag.cli.commands import app

runner = CliRunner()
ARTICLE = "Harbour ferries\n\nThe ferries ran late in the harbour on Tuesday, the port authority said.\n"


def _index(*args: str):
    return runner.invoke(app, ["index", *args, "--embedder", "hashing-256"])


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / "good.txt").write_text(ARTICLE, encoding="utf-8")
    (folder / "cafe.txt").write_bytes("Caf\xe9 news\n\nThe caf\xe9 opened its doors on Monday morning.\n"
                                      .encode("cp1252"))
    (folder / "nul.txt").write_bytes(b"Stray byte\n\nA text with one stray\x00 NUL byte in it.\n")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\x00\x00 binary")
    (folder / "records.jsonl").write_text('{"id": "r1", "text": "One good record about the port."}\nnot json\n',
                                          encoding="utf-8")
    os.symlink("/etc/passwd", folder / "passwd.txt")
    return folder


def test_problems_and_notes_are_each_shown_once(hostile, tmp_path):
    res = _index(str(hostile), "--index-dir", str(tmp_path / "index"))
    assert res.exit_code == 0, res.output
    err = res.stderr.splitlines()
    for name in ("binary.txt", "passwd.txt", "records.jsonl"):
        lines = [line for line in err if name in line]
        assert len(lines) == 1 and lines[0].startswith("problem: "), err
        assert lines[0].count(name) == 1, "the path is not repeated"
    cafe = [line for line in err if "cafe.txt" in line]
    assert cafe == [f"note: {hostile / 'cafe.txt'}: not UTF-8 (byte 0xe9 at offset 3); decoded as cp1252 (detected)"]
    nul = [line for line in err if "nul.txt" in line]
    assert nul == [f"note: {hostile / 'nul.txt'}: 1 stray NUL byte dropped"]
    assert "good.txt" not in res.stderr
    assert "4 documents" in res.stdout  # good, cafe, nul and the good record

    res = _index(str(hostile), "--index-dir", str(tmp_path / "index"), "--json")
    report = json.loads(res.stdout)
    assert {Path(n["path"]).name for n in report["notes"]} == {"cafe.txt", "nul.txt"}
    assert {Path(p["path"]).name for p in report["problems"]} == {"binary.txt", "passwd.txt", "records.jsonl"}


def test_many_files_with_the_same_decision_make_one_line(tmp_path):
    folder = tmp_path / "legacy"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.txt").write_bytes(f"Caf\xe9 {i}\n\nStory {i}: the caf\xe9 {i} served {i} guests.\n"
                                          .encode("cp1252"))
    res = _index(str(folder), "--index-dir", str(tmp_path / "index"))
    assert res.exit_code == 0, res.output
    notes = [line for line in res.stderr.splitlines() if line.startswith("note:")]
    assert notes == [f"note: 6 files not UTF-8; decoded as cp1252 (detected): {folder / '0.txt'}, "
                     f"{folder / '1.txt'}, {folder / '2.txt'} and 3 more"]


def test_no_folder_given_updates_from_the_index_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "a.txt").write_text(ARTICLE, encoding="utf-8")

    res = _index("--index-dir", "idx")
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "no folder given" in res.stderr and "rag index ~/news/" in res.stderr
    assert not (tmp_path / "idx").exists(), "a refused run leaves nothing behind"

    assert _index(str(articles), "--index-dir", "idx").exit_code == 0
    (articles / "b.txt").write_text("Second story\n\nA second ferry story from the same harbour.\n", encoding="utf-8")
    res = _index("--index-dir", "idx")
    assert res.exit_code == 0, res.output
    assert f"updating idx/ from {articles.resolve()}" in res.stderr
    assert "added: 1 (b.txt)" in res.stdout and "2 documents" in res.stdout

    (articles / "b.txt").unlink()
    (articles / "a.txt").unlink()
    articles.rmdir()  # an unmounted drive must not empty the index
    res = _index("--index-dir", "idx")
    assert res.exit_code == 1 and "is gone" in res.stderr
    res = runner.invoke(app, ["info", "--index-dir", "idx", "--json"])
    assert json.loads(res.stdout)["documents"] == 2


def test_no_folder_and_no_index_indexes_the_seeds_folder_here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "seeds").mkdir()
    (tmp_path / "seeds" / "a.txt").write_text(ARTICLE, encoding="utf-8")
    res = _index("--index-dir", "idx")
    assert res.exit_code == 0 and "1 documents" in res.stdout, res.output


def test_help_says_what_no_folder_means():
    res = runner.invoke(app, ["index", "--help"], env={"COLUMNS": "200"})
    assert "the folders the index was built from" in " ".join(res.output.split())


def test_rebuild_with_no_folder_repairs_from_the_recorded_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "a.txt").write_text(ARTICLE, encoding="utf-8")
    assert _index(str(articles), "--index-dir", "idx").exit_code == 0
    (tmp_path / "idx" / "CURRENT").write_text("garbage\n", encoding="utf-8")
    res = runner.invoke(app, ["index", "--rebuild", "--index-dir", "idx"])  # the embedder is recovered too
    assert res.exit_code == 0, res.output
    assert "1 documents" in res.stdout and "(rebuilt)" in res.stdout and "hashing-256" in res.stdout
    res = runner.invoke(app, ["index", "--check", "--index-dir", "idx"])
    assert res.exit_code == 0 and "is sound" in res.stdout
