"""Formats: turn one file's decoded text into `Document`s (`.txt`, `.md`, `.html`/`.htm`,
`.jsonl`), cleaned of furniture, titled and dated.

Deliberate simplification: one line is one paragraph. Scraped text and trafilatura output put a
paragraph on each line, so the cleaned text has every kept line as a paragraph, separated by
exactly one blank line. Only two cases join lines: Markdown soft-wrapped paragraphs, and in
`.txt` files a line that continues with a lower-case letter after a line without closing
punctuation (hard wrapping).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from rag.ingest.dates import find_dateline, parse_date
from rag.ingest.files import FileProblem, Problem
from rag.ingest.furniture import clean_with_report
from rag.ingest.text import CLOSED as _CLOSED
from rag.ingest.text import normalize_text
from rag.ingest.titles import fallback_title, html_title, split_title, tidy_title, title_from_name
from rag.types import Document

__all__ = ["Loaded", "LOADERS", "load_jsonl", "markdown_to_text"]

def _unwrap(text: str) -> str:
    """Join hard-wrapped lines of a `.txt` file: a line without closing punctuation followed,
    in the same block, by a line that starts in lower case is one paragraph."""
    out: list[str] = []
    for line in text.split("\n"):
        if (
            out
            and out[-1]
            and line
            and not _CLOSED.search(out[-1])
            and line[0].islower()
        ):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return "\n".join(out)


_MD_FENCE = re.compile(r"^(```|~~~)")
_MD_ATX = re.compile(r"^#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$")
_MD_SETEXT = re.compile(r"^(=+|-+)$")
_MD_RULE = re.compile(r"^([-*_])(\s*\1){2,}$")
_MD_LIST = re.compile(r"^([-*+]|\d{1,3}[.)])\s+")
_MD_TABLE_SEP = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$")
_MD_REF_DEF = re.compile(r"^\[[^\]]+\]:\s+\S+")
_MD_QUOTE = re.compile(r"^(>\s?)+")
_MD_FRONT_FIELD = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def _strip_inline_markdown(s: str) -> str:
    s = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", s)  # image -> its alt text
    s = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", s)
    s = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", s)
    s = re.sub(r"<((?:https?|mailto):[^>]+)>", r"\1", s)
    s = re.sub(r"</?[A-Za-z][^>]*>", "", s)
    s = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", s)
    s = re.sub(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", r"\1", s)
    s = re.sub(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", r"\1", s)
    s = re.sub(r"~~(.+?)~~", r"\1", s)
    s = re.sub(r"`([^`]+)`", r"\1", s)
    s = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>~])", r"\1", s)
    return s.strip()


def markdown_to_text(md: str) -> tuple[str, dict[str, str], bool]:
    """Markdown as plain text with one paragraph, heading, list item or table row per line.

    Headings become plain lines, soft-wrapped paragraphs are joined, inline syntax (emphasis,
    links, images, code) is reduced to its text. Returns the text, the fields of a leading
    `---` front-matter block, and whether the first element is a heading.
    """
    lines = normalize_text(md).split("\n")
    meta: dict[str, str] = {}
    if lines and lines[0] == "---":
        for end in range(1, len(lines)):
            if lines[end] in ("---", "..."):
                for entry in lines[1:end]:
                    m = _MD_FRONT_FIELD.match(entry)
                    if m:
                        meta[m[1].lower()] = m[2].strip().strip("\"'")
                lines = lines[end + 1 :]
                break

    out: list[str] = []
    first_is_heading: bool | None = None
    para: list[str] = []
    in_code = False

    def emit(text: str, heading: bool = False) -> None:
        nonlocal first_is_heading
        if text:
            out.append(text)
            if first_is_heading is None:
                first_is_heading = heading

    def flush() -> None:
        if para:
            emit(" ".join(para))
            para.clear()

    for s in lines:
        if _MD_FENCE.match(s):
            flush()
            in_code = not in_code
            continue
        if in_code:
            emit(s)
            continue
        if not s:
            flush()
            continue
        if _MD_SETEXT.match(s) and len(para) == 1:
            emit(para.pop(), heading=True)
            continue
        if _MD_RULE.match(s) or _MD_REF_DEF.match(s):
            flush()
            continue
        heading = _MD_ATX.match(s)
        if heading:
            flush()
            emit(_strip_inline_markdown(heading[1] or ""), heading=True)
            continue
        s = _MD_QUOTE.sub("", s)
        if "|" in s and _MD_TABLE_SEP.match(s):
            continue
        if s.startswith("|"):
            flush()
            emit(_strip_inline_markdown(s.strip("|").strip()))
            continue
        if _MD_LIST.match(s):
            flush()
        para.append(_strip_inline_markdown(s))
    flush()
    return "\n".join(out), meta, bool(first_is_heading)


def _sha256(title: str, text: str) -> str:
    return hashlib.sha256(f"{title}\n{text}".encode("utf-8")).hexdigest()


# A loaded document and the cleaner's report of what it removed.
Loaded = tuple[Document, list[tuple[str, str]]]


def _make_document(
    doc_id: str,
    title: str,
    body: str,
    source: Path,
    *,
    url: str | None = None,
    date: str | None = None,
    publisher: str | None = None,
    site_names: Iterable[str] = (),
) -> Loaded:
    """Clean `body` and build the document; `FileProblem` when no article text is left.

    `date` is a date the file states as data (any format `parse_date` reads); without one, a
    dateline at the top of the body gives the date.
    """
    found = parse_date(date)
    if not found:
        # Looked for before cleaning, which drops the dateline from the text.
        dateline = find_dateline(normalize_text(body))
        found = dateline.date if dateline else None
    text, report = clean_with_report(body, title=title or None, site_names=site_names)
    if not text:
        if report:
            rules = ", ".join(sorted({name for name, _ in report}))
            raise FileProblem(
                f"contains only page furniture ({rules}); no article text is left after cleaning"
            )
        raise FileProblem("has no article text" + (" (only a title line)" if title else ""))
    if not title:
        title = fallback_title(text)
    if not publisher:
        # A line the cleaner dropped as the publisher's name (confirmed by the page's own
        # copyright notice): "according to The New York Sun" should find that page's outlet.
        publisher = next((line for rule, line in report if rule == "site_name"), None)
    document = Document(
        id=doc_id,
        title=title,
        text=text,
        source=str(source.absolute()),
        sha256=_sha256(title, text),
        url=url or None,
        date=found,
        publisher=publisher or None,
    )
    return document, report


def _load_txt(path: Path, doc_id: str, raw: str) -> Loaded:
    text = _unwrap(normalize_text(raw))
    if not text.strip():
        raise FileProblem("is empty")
    title, body = split_title(text)
    return _make_document(doc_id, title or title_from_name(path), body, path)


def _load_md(path: Path, doc_id: str, raw: str) -> Loaded:
    if not raw.strip():
        raise FileProblem("is empty")
    text, meta, first_is_heading = markdown_to_text(raw)
    if meta.get("title"):
        title, body = tidy_title(_strip_inline_markdown(meta["title"])), text
    else:
        title, body = split_title(text, allow_label=not first_is_heading)
    return _make_document(
        doc_id,
        title or title_from_name(path),
        body,
        path,
        url=meta.get("url"),
        date=meta.get("date"),
        publisher=meta.get("source") or meta.get("publisher"),
        site_names=[meta.get("source") or meta.get("publisher") or ""],
    )


def _load_html(path: Path, doc_id: str, html: str) -> Loaded:
    if not html.strip():
        raise FileProblem("is empty")
    try:
        # Imported here so that loading plain text does not pay for trafilatura and lxml.
        import trafilatura

        text = trafilatura.extract(
            html, include_comments=False, include_tables=True, favor_recall=True
        )
        # Not extensive: the extensive date search guesses from copyright years and the like.
        meta = trafilatura.extract_metadata(html, extensive=False)
    except ImportError as exc:
        # A broken install (trafilatura without lxml_html_clean) costs the HTML files, not the run.
        raise FileProblem(
            f"cannot be read: the HTML reader failed to import ({exc}); "
            "reinstall with `pip install rag-news` to get its dependencies"
        ) from exc
    except Exception as exc:  # trafilatura/lxml raise many types on broken markup
        raise FileProblem(f"could not be parsed as HTML ({exc})") from exc
    if not text or not text.strip():
        raise FileProblem("has no article text that could be extracted from the HTML")
    title = (meta.title if meta else None) or html_title(html)
    if title:
        title, body = tidy_title(title), text
    else:
        title, body = split_title(text)
    sitename = (meta.sitename if meta else None) or None
    return _make_document(
        doc_id,
        title or title_from_name(path),
        body,
        path,
        url=meta.url if meta else None,
        date=meta.date if meta else None,
        publisher=sitename,
        site_names=[n for n in (sitename, meta.hostname if meta else None) if n],
    )


def _record_key(record: dict[str, object], line_no: int) -> str:
    for name in ("id", "_id"):
        value = record.get(name)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return str(line_no)


def _optional_str(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


_MAX_LINE_PROBLEMS = 20


def load_jsonl(
    path: Path, doc_id: str, display: str, raw: str
) -> tuple[list[Loaded], list[Problem]]:
    documents: list[Loaded] = []
    problems: list[tuple[int, str]] = []
    records: list[tuple[int, dict[str, object]]] = []

    def problem(line_no: int, message: str) -> None:
        problems.append((line_no, message))

    for line_no, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problem(line_no, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            problem(line_no, f"expected a JSON object, got {type(record).__name__}")
            continue
        records.append((line_no, record))

    if not records and not problems:
        raise FileProblem("is empty")
    if records and not problems and all("question" in r and "text" not in r for _, r in records):
        # A question set kept beside the articles (seeds/questions.jsonl) is not an article file
        # and not a mistake either: skip it quietly.
        return [], []
    if records and not any("text" in record for _, record in records):
        # A file of some other kind of record (questions, settings) is one problem, not one
        # per line.
        keys = sorted({k for _, record in records for k in record})[:8]
        raise FileProblem(
            "has no record with a 'text' field, so it is not a file of articles "
            f"(its records have: {', '.join(keys)})"
        )

    seen: dict[str, int] = {}
    for line_no, record in records:
        key = _record_key(record, line_no)
        if key in seen:
            problem(line_no, f"id '{key}' was already used on line {seen[key]}; record skipped")
            continue
        seen[key] = line_no
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            problem(line_no, "record has no 'text' (or it is empty); record skipped")
            continue
        title = _optional_str(record.get("title"))
        publisher = _optional_str(record.get("source")) or _optional_str(record.get("publisher"))
        try:
            documents.append(
                _make_document(
                    f"{doc_id}#{key}",
                    tidy_title(title) if title else "",
                    text,
                    path,
                    url=_optional_str(record.get("url")),
                    date=_optional_str(record.get("date")),
                    publisher=publisher,
                    site_names=[publisher] if publisher else (),
                )
            )
        except FileProblem as exc:
            problem(line_no, f"the record {exc}")

    problems.sort()
    reported = [
        Problem(display, f"{display} line {line_no}: {message}")
        for line_no, message in problems[:_MAX_LINE_PROBLEMS]
    ]
    if len(problems) > _MAX_LINE_PROBLEMS:
        # A file that is not JSON Lines at all would otherwise bury everything else.
        more = len(problems) - _MAX_LINE_PROBLEMS
        reported.append(Problem(display, f"{display}: {more} more lines have problems"))
    return documents, reported


LOADERS: dict[str, Callable[[Path, str, str], Loaded]] = {
    ".txt": _load_txt,
    ".md": _load_md,
    ".html": _load_html,
    ".htm": _load_html,
}

