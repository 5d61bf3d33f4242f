"""Titles: find an article's headline in its first lines, tidy a `<title>` or front-matter title,
and make one up (from the file name or the first words) when a page has none.

Deliberate simplification: the heuristics (first line, a leading section label, a " | Site"
suffix) are tuned for news pages; when the first line is a whole paragraph the file name
becomes the title.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from rag.ingest.furniture import is_standalone_furniture
from rag.ingest.text import count_words as _words
from rag.ingest.text import normalize_text

__all__ = ["split_title", "tidy_title", "title_from_name", "fallback_title", "html_title"]

_TITLE_SUFFIX = re.compile(r"^(?P<head>.*\S)\s+\|\s+(?P<site>[^|]+)$")
# A first line longer than this is a paragraph, not a headline.
_MAX_TITLE_WORDS = 30


# Letters only, so that a dateline such as "June 19, 2024" is never taken for a label.
_LABEL = re.compile(r"[^\W\d_]+(?:[ &’'-]+[^\W\d_]+){0,2}")
_PARAGRAPH_END = re.compile(r"[.;:,][\"'”’»)\]]*$")


def _is_section_label(line: str) -> bool:
    """`Vietnam News`, `World`, `OPINION`: at most 3 capitalised words of letters only."""
    return bool(_LABEL.fullmatch(line)) and all(w[0].isupper() for w in line.split())


def _is_headline(line: str, than: str) -> bool:
    """Longer than the label above it, and not a sentence-ending paragraph."""
    return _words(than) < _words(line) <= _MAX_TITLE_WORDS and not _PARAGRAPH_END.search(line)


def tidy_title(title: str) -> str:
    title = normalize_text(title).replace("\n", " ").strip()
    # "Headline | News" or "Headline | Site Name": the part after the bar names the site.
    m = _TITLE_SUFFIX.match(title)
    if m and _words(m["site"]) <= 3 and _words(m["head"]) >= 2:
        title = m["head"]
    return title


def split_title(text: str, *, allow_label: bool = True) -> tuple[str, str]:
    """Split a plain-text article into `(title, body)`.

    The title is the first non-empty line that is not furniture. When that line is a short
    section label (`Vietnam News`) and the next line is a longer headline, the headline is the
    title and the label is dropped. When the first line is a whole paragraph there is no title
    (`""`) and everything stays in the body.
    """
    lines = normalize_text(text).split("\n")
    content = [i for i, line in enumerate(lines) if line]
    # Furniture above the headline (a "Print" widget, a banner) stays in the body, where the
    # cleaner removes it and reports it.
    start = 0
    while start < len(content) and is_standalone_furniture(lines[content[start]]):
        start += 1
    if start == len(content):
        return "", "\n".join(lines)
    first = content[start]
    if _words(lines[first]) > _MAX_TITLE_WORDS:
        return "", "\n".join(lines)
    title_at = first
    if allow_label and start + 1 < len(content):
        nxt = content[start + 1]
        if _is_section_label(lines[first]) and _is_headline(lines[nxt], lines[first]):
            title_at = nxt
    body = [line for i, line in enumerate(lines) if i not in (first, title_at)]
    return tidy_title(lines[title_at]), "\n".join(body)


def title_from_name(path: Path) -> str:
    return re.sub(r"[_\-]+", " ", path.stem).strip() or path.name


def fallback_title(text: str, limit: int = 12) -> str:
    """A title for a record that has none: its first words."""
    first = text.split("\n", 1)[0]
    words = first.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


class _TitleParser(HTMLParser):
    """The text of the first <title> element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._inside = False
        self.done = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self.done:
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._inside:
            self._inside = False
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.parts.append(data)


def html_title(html: str) -> str:
    parser = _TitleParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient, but a title is never worth failing a file for
        pass
    return " ".join("".join(parser.parts).split())

