"""`rag.ingest.load`: the paths a user gives become documents with stable ids (relative to the
folder; prefixed by the folder's name when there are several)."""

from __future__ import annotations

from pathlib import Path

from rag.ingest import LoadResult, load_documents

from .ingest_data import GOOD_ARTICLE, SEED_TITLES, seed_result  # noqa: F401


def test_seed_folder_loads_every_article(seed_result: LoadResult) -> None:
    assert sorted(d.id for d in seed_result.documents) == sorted(SEED_TITLES)
    # questions.jsonl sits beside the articles: a question set is skipped quietly, not a problem.
    assert seed_result.problems == []
    assert seed_result.files_seen == 6


def test_nested_folders_give_relative_ids_and_hidden_entries_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "b.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / "sub" / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / "sub" / "deeper" / "c.md").write_text("# T\n\nSome text.\n", encoding="utf-8")
    (tmp_path / ".hidden" / "x.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    (tmp_path / ".secret.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["b.txt", "sub/a.txt", "sub/deeper/c.md"]
    assert result.files_seen == 3


def test_several_folders_get_prefixes(tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    single = tmp_path / "single.txt"
    single.write_text(GOOD_ARTICLE, encoding="utf-8")
    result = load_documents([tmp_path / "one", tmp_path / "two", single])
    assert [d.id for d in result.documents] == ["one/a.txt", "two/a.txt", "single.txt"]
    assert len({d.sha256 for d in result.documents}) == 1  # identical content, identical hash
    assert load_documents([single]).documents[0].id == "single.txt"


def test_folders_with_the_same_name_do_not_collide(tmp_path: Path) -> None:
    for parent in ("x", "y"):
        (tmp_path / parent / "docs").mkdir(parents=True)
        (tmp_path / parent / "docs" / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    result = load_documents([tmp_path / "x" / "docs", tmp_path / "y" / "docs"])
    assert [d.id for d in result.documents] == ["x/docs/a.txt", "y/docs/a.txt"]
