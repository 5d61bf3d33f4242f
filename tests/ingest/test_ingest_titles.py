"""`rag.ingest.titles`: the seeds' titles, section labels above a headline, site suffixes, and
pages whose first line is no title."""

from __future__ import annotations

import hashlib

import pytest

from rag.ingest import LoadResult, split_title

from .ingest_data import SEED_TITLES, SEEDS, _doc, seed_result  # noqa: F401


@pytest.mark.parametrize("name", sorted(SEED_TITLES))
def test_seed_titles(seed_result: LoadResult, name: str) -> None:
    doc = _doc(seed_result, name)
    assert doc.title == SEED_TITLES[name]
    assert not doc.text.startswith(doc.title)
    assert doc.source == str((SEEDS / name).absolute())
    assert doc.sha256 == hashlib.sha256(f"{doc.title}\n{doc.text}".encode()).hexdigest()


def test_section_label_above_headline_is_dropped() -> None:
    page = "World\n\nLeaders meet in Hanoi for talks on trade\n\nBody text here."
    title, body = split_title(page)
    assert title == "Leaders meet in Hanoi for talks on trade"
    assert body.strip() == "Body text here."


def test_upper_case_label_is_dropped_but_dateline_is_not_a_label() -> None:
    assert split_title("OPINION\nWhy Hanoi said yes to Moscow\nBody.")[0] == (
        "Why Hanoi said yes to Moscow"
    )
    title, body = split_title("June 19, 2024\nWhy Hanoi said yes to Moscow\nBody.")
    assert title == "June 19, 2024"
    assert "Why Hanoi said yes to Moscow" in body


@pytest.mark.parametrize(
    "page, title",
    [
        # The next line is a sentence, so the short first line is the title.
        ("Update\nThe minister resigned on Friday.\n", "Update"),
        # Lower-case words: a short headline, not a section label.
        ("Putin in Hanoi\nA visit with no breakthrough expected\n", "Putin in Hanoi"),
        # Four words is more than a label.
        ("Vietnam And Russia Today\nA long headline about the visit\n", "Vietnam And Russia Today"),
    ],
)
def test_short_first_line_that_is_not_a_label_is_the_title(page: str, title: str) -> None:
    assert split_title(page)[0] == title


def test_site_suffix_is_stripped_from_title() -> None:
    assert split_title("Why Vietnam? | News\nBody.")[0] == "Why Vietnam?"
    long_suffix = "Rates rise | A Very Long Section Name\nBody."
    assert split_title(long_suffix)[0] == "Rates rise | A Very Long Section Name"


def test_paragraph_first_line_gives_no_title() -> None:
    para = " ".join(["word"] * 40) + "."
    assert split_title(para) == ("", para)
