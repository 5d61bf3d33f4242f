"""Publication dates: datelines in the text, dates stated as data, and what each loader keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.ingest import clean_with_report, load_documents
from rag.ingest.dates import find_dateline, is_dateline, parse_date

BODY = (
    "The council voted on Tuesday to close the old bridge to cars.\n\n"
    "The mayor said repairs would take two years and cost about $40 million.\n"
)


@pytest.mark.parametrize(
    ("line", "date"),
    [
        ("July 3, 2026, 10:15 a.m. ET", "2026-07-03"),
        ("Updated Oct. 3, 2022", "2022-10-03"),
        ("Published 12:01 AM EST, Oct 5, 2025", "2025-10-05"),
        ("Sat 4 Oct 2025 09.00 BST", "2025-10-04"),
        ("Updated 5:00 PM EDT, Mon October 6, 2025", "2025-10-06"),
        # publication date first, then the update: the first is the publication date
        ("Dec. 15, 2025 Updated Dec. 16, 2025, 4:13 p.m. ET", "2025-12-15"),
        ("By Jane Doe and John Roe | Published Oct 5, 2025", "2025-10-05"),
        ("2025-10-04T09:30:00Z", "2025-10-04"),
    ],
)
def test_datelines_are_read(line: str, date: str) -> None:
    assert is_dateline(line)
    found = find_dateline(f"{line}\n\n{BODY}")
    assert found is not None and found.date == date and found.line == line


@pytest.mark.parametrize(
    "line",
    [
        "He died on March 14, 1977.",  # a date inside a sentence
        "Thanksgiving is on Thursday, Nov. 23, 2023.",
        "A sign in front of the headquarters on April 28, 2022 in Menlo Park. Photo: Agency",
        "Feb. 30, 2025",  # not a calendar date
        "October 2025",  # not a whole date
        "Thursday, Dec. 4",
    ],
)
def test_dates_in_prose_and_partial_dates_are_not_datelines(line: str) -> None:
    assert not is_dateline(line)


def test_a_dateline_is_only_looked_for_at_the_top_or_the_foot() -> None:
    lines = [f"Paragraph {i} of the article says something." for i in range(12)]
    assert find_dateline("\n".join([*lines[:9], "Oct. 3, 2022", *lines])) is None  # the middle
    assert find_dateline("\n".join(["Oct. 3, 2022", *lines])).date == "2022-10-03"  # type: ignore[union-attr]
    foot = find_dateline("\n".join([*lines, "By A. Writer - June 19, 2024", "Last words."]))
    assert foot is not None and foot.date == "2024-06-19"


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("2025-10-04", "2025-10-04"),
        ("2025-10-04T09:00:00+02:00", "2025-10-04"),
        ("Oct. 4, 2025", "2025-10-04"),
        ("4 octobre 2025", "2025-10-04"),
        ("2025-13-01", None),
        ("2025", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(value: str | None, date: str | None) -> None:
    assert parse_date(value) == date


def test_the_dateline_leaves_the_text_and_is_reported() -> None:
    text, report = clean_with_report(f"Updated Oct. 3, 2022, 8:15 a.m. ET\n\n{BODY}")
    assert ("dateline", "Updated Oct. 3, 2022, 8:15 a.m. ET") in report
    assert "2022" not in text and text.startswith("The council voted")


def test_each_format_gives_its_date(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(f"Bridge closes\n\nOct. 3, 2022, 10:15 a.m. ET\n\n{BODY}", encoding="utf-8")
    (tmp_path / "b.txt").write_text(f"Bridge closes again\n\n{BODY}", encoding="utf-8")
    (tmp_path / "c.md").write_text(f"---\ntitle: Bridge\ndate: 2024-05-06\n---\n\n{BODY}", encoding="utf-8")
    records = [
        {"id": "x", "title": "Bridge", "text": BODY, "date": "2023-01-02T08:00:00Z"},
        {"id": "y", "title": "Bridge", "text": "Published March 9, 2021\n\n" + BODY},
        {"id": "z", "title": "Bridge", "text": BODY + " More.", "date": "not a date"},
    ]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    (tmp_path / "e.html").write_text(
        "<html><head><title>Bridge closes</title>"
        '<meta property="article:published_time" content="2025-11-20T10:00:00Z"></head>'
        f"<body><article><h1>Bridge closes</h1><p>{BODY.splitlines()[0]}</p>"
        f"<p>{BODY.splitlines()[2]}</p></article></body></html>",
        encoding="utf-8",
    )
    dates = {d.id: d.date for d in load_documents([tmp_path]).documents}
    assert dates == {
        "a.txt": "2022-10-03",
        "b.txt": None,
        "c.md": "2024-05-06",
        "d.jsonl#x": "2023-01-02",
        "d.jsonl#y": "2021-03-09",
        "d.jsonl#z": None,
        "e.html": "2025-11-20",
    }
