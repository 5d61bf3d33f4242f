"""`rag.ingest.formats`: `.md`, `.html`, `.jsonl` and hard-wrapped `.txt` files become documents;
the same article in two files has one content hash; a question set is not an article file."""

from __future__ import annotations

import json
from pathlib import Path

from rag.ingest import load_documents, markdown_to_text

from .ingest_data import GOOD_ARTICLE

MARKDOWN = """---
title: "Putin *visits* Hanoi"
date: 2024-06-19
url: https://example.com/putin-hanoi
source: Example Wire
---
# Putin *visits* [Hanoi](https://example.com/hanoi)

Russian President Vladimir Putin arrived in Hanoi
on Wednesday for a **two-day** state visit.

## Background

- Vietnam buys most of its weapons from Russia.
- Trade fell by half since 2021.

![Putin and To Lam in Hanoi](photo.jpg)

Analysts call it `bamboo diplomacy`.

---

Share this article: Facebook Twitter Email
"""


def test_markdown_file(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(MARKDOWN, encoding="utf-8")
    result = load_documents([tmp_path])
    assert result.problems == []
    (doc,) = result.documents
    assert doc.id == "a.md"
    assert doc.title == "Putin visits Hanoi"
    assert doc.date == "2024-06-19" and doc.url == "https://example.com/putin-hanoi"
    assert doc.publisher == "Example Wire"
    assert doc.text.split("\n\n") == [
        "Russian President Vladimir Putin arrived in Hanoi on Wednesday for a two-day state visit.",
        "Background",
        "- Vietnam buys most of its weapons from Russia.",
        "- Trade fell by half since 2021.",
        "Putin and To Lam in Hanoi",
        "Analysts call it bamboo diplomacy.",
    ]


def test_markdown_title_from_first_heading_without_front_matter(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text(
        "## **Rates** rise again ##\n\nThe central bank raised rates.\n\nSecond *part*\n"
        "-------------\n\nMore text.\n",
        encoding="utf-8",
    )
    (doc,) = load_documents([tmp_path / "b.md"]).documents
    assert doc.title == "Rates rise again"
    assert doc.text == "The central bank raised rates.\n\nSecond part\n\nMore text."
    assert "#" not in doc.text


def test_markdown_to_text_keeps_code_and_tables() -> None:
    text, meta, first_is_heading = markdown_to_text(
        "Intro\n\n```\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    assert meta == {} and first_is_heading is False
    assert text.split("\n") == ["Intro", "x = 1", "a | b", "1 | 2"]


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Hanoi hosts Putin | Example News</title>
<meta property="og:site_name" content="Example News">
<script>window.SCRIPT_MARKER = "tracking";</script>
</head><body>
<nav><ul><li><a href="/">Home NAVMARKER</a></li><li><a href="/world">World</a></li></ul></nav>
<div id="cookie-banner"><p>We use cookies to improve your experience. By continuing to use this
site you accept our cookie policy.</p><button>Accept all cookies</button></div>
<main><article>
<h1>Hanoi hosts Putin</h1>
<p>Russian President Vladimir Putin arrived in Hanoi on Wednesday for a two-day state visit,
the foreign ministry said in a statement.</p>
<p>We use cookies to improve your experience. By continuing to use this site you accept our
cookie policy.</p>
<h2>Why Vietnam?</h2>
<p>Vietnam has long balanced its ties with the great powers, and analysts expect arms and
energy deals to feature in the talks.</p>
<p>Share this article: Facebook Twitter Email</p>
</article></main>
<footer><p>© 2024 Example News. All rights reserved.</p></footer>
</body></html>
"""


def test_html_file(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(HTML_PAGE, encoding="utf-8")
    result = load_documents([tmp_path])
    assert result.problems == []
    (doc,) = result.documents
    assert doc.id == "page.html"
    assert doc.title == "Hanoi hosts Putin"
    assert doc.publisher == "Example News"
    paragraphs = doc.text.split("\n\n")
    assert paragraphs[0].startswith("Russian President Vladimir Putin arrived in Hanoi")
    assert "Why Vietnam?" in paragraphs
    assert any(p.startswith("Vietnam has long balanced its ties") for p in paragraphs)
    for marker in ("SCRIPT_MARKER", "NAVMARKER", "cookie", "Share this article", "©"):
        assert marker not in doc.text


def test_html_with_declared_latin1_charset(tmp_path: Path) -> None:
    page = (
        '<html><head><meta charset="iso-8859-1"><title>Caf\xe9 culture</title></head><body>'
        "<article><p>Le caf\xe9 de la place a rouvert ses portes lundi apr\xe8s deux ans de "
        "travaux, au grand plaisir des habitu\xe9s du quartier.</p></article></body></html>"
    )
    (tmp_path / "old.htm").write_bytes(page.encode("latin-1"))
    (doc,) = load_documents([tmp_path]).documents
    assert doc.title == "Café culture"
    assert "Le café de la place" in doc.text


def test_jsonl_file(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": "a1",
                "title": "Putin lands in Hanoi",
                "text": "Putin landed in Hanoi on Wednesday.\nHe was greeted by To Lam.",
                "url": "https://example.com/a1",
                "date": "2024-06-19",
                "source": "Example Wire",
            }
        ),
        json.dumps({"title": "No id here", "text": "A record without an id uses its line."}),
        "{not json",
        "",
        json.dumps({"id": "x9", "title": "Has no text"}),
        json.dumps({"_id": 7, "title": "Underscore id", "text": "Uses the _id field."}),
        json.dumps(["not", "an", "object"]),
    ]
    (tmp_path / "news.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = load_documents([tmp_path / "news.jsonl"])
    by_id = {d.id: d for d in result.documents}
    assert sorted(by_id) == ["news.jsonl#2", "news.jsonl#7", "news.jsonl#a1"]
    a1 = by_id["news.jsonl#a1"]
    assert a1.text == "Putin landed in Hanoi on Wednesday.\n\nHe was greeted by To Lam."
    assert a1.url == "https://example.com/a1"
    assert (a1.date, a1.publisher) == ("2024-06-19", "Example Wire")
    messages = [p.message for p in result.problems]
    assert len(messages) == 3
    assert any("line 3" in m and "JSON" in m for m in messages)
    assert any("line 5" in m and "text" in m for m in messages)
    assert any("line 7" in m for m in messages)
    assert all("news.jsonl" in m for m in messages)


def test_same_article_in_two_files_has_equal_hash(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(GOOD_ARTICLE, encoding="utf-8")
    # Same article with CRLF, a no-break space, doubled spaces and a cookie banner.
    (tmp_path / "b.txt").write_bytes(
        (
            "Hanoi welcomes Putin\r\n\r\n"
            "Russian President  Vladimir\u00a0Putin arrived in Hanoi on Wednesday "
            "for a state visit.\r\n"
            "\r\nWe use cookies. Accept all cookies\r\n"
        ).encode("utf-8")
    )
    docs = load_documents([tmp_path]).documents
    assert [d.id for d in docs] == ["a.txt", "b.txt"]
    assert docs[0].sha256 == docs[1].sha256
    assert docs[0].text == docs[1].text


def test_hard_wrapped_text_file_is_unwrapped(tmp_path: Path) -> None:
    (tmp_path / "wrapped.txt").write_text(
        "A wrapped story\n\nThe council voted on Tuesday to approve\nthe new budget, officials "
        "said.\nA second paragraph starts here.\n",
        encoding="utf-8",
    )
    (doc,) = load_documents([tmp_path]).documents
    assert doc.text == (
        "The council voted on Tuesday to approve the new budget, officials said.\n\n"
        "A second paragraph starts here."
    )


def test_a_question_set_is_skipped_but_other_records_are_a_problem(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A title\n\nA sentence of the article.\n", encoding="utf-8")
    (tmp_path / "questions.jsonl").write_text('{"question": "Who?", "answers": ["x"]}\n', encoding="utf-8")
    (tmp_path / "settings.jsonl").write_text('{"colour": "blue"}\n', encoding="utf-8")
    result = load_documents([tmp_path])
    assert [d.id for d in result.documents] == ["a.txt"]
    assert [Path(p.path).name for p in result.problems] == ["settings.jsonl"]
    assert "text" in result.problems[0].message


def test_a_text_page_gets_its_publisher_from_the_name_its_copyright_notice_confirms(tmp_path: Path) -> None:
    page = "\n\n".join([
        "Harbour deal signed",
        "The Example Courier",
        GOOD_ARTICLE,
        "© 2024 The Example Courier Company, LLC. All rights reserved.",
    ])
    (tmp_path / "a.txt").write_text(page, encoding="utf-8")
    (doc,) = load_documents([tmp_path]).documents
    assert doc.publisher == "The Example Courier"
    assert "Example Courier" not in doc.text  # still furniture: out of the text, kept as data
