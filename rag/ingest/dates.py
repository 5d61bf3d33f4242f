"""Dates: an article's publication date as ISO `YYYY-MM-DD`, when one can be found.

Sources, in the order a loader tries them: a date the file states as data (a JSONL `date`
field, Markdown front matter, HTML metadata read by trafilatura/htmldate), then a dateline near
the top of the text ("July 3, 2026, 10:15 a.m. ET", "Updated Oct. 3, 2022", "Published 12:01 AM
EST, Oct 5, 2025", "Sat 4 Oct 2025 09.00 BST"). `DatedText.source` says which one it was.

Deliberate simplifications:

* A dateline is a short line among the first lines of the body that holds a date and nothing
  else but times, time zones, weekdays, "Updated"/"Published"-style words and at most a short
  byline. A date inside a sentence ("he died on March 14, 1977") is never taken for the
  publication date.
* When a dateline carries both a publication and an update date ("Dec. 15, 2025 Updated Dec.
  16, 2025"), the first one is the publication date. A page that shows only its update date
  gets that date: the nearest thing it says.
* Datelines are read in English month names (full or abbreviated, any case); dates stated as
  data may be in any format `dateparser` reads.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

from rag.ingest.text import WORD

__all__ = ["DatedText", "parse_date", "find_dateline", "is_dateline"]

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}  # fmt: skip
_MONTH = r"(?P<{name}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<{name}>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<{name}>(?:19|20)\d\d)"
_DATE = re.compile(
    "|".join(
        [
            # Oct. 3, 2022 / October 3 2022
            rf"\b{_MONTH.format(name='m1')}\s+{_DAY.format(name='d1')},?\s+{_YEAR.format(name='y1')}\b",
            # 4 Oct 2025 / 4 October, 2025
            rf"\b{_DAY.format(name='d2')}\s+{_MONTH.format(name='m2')},?\s+{_YEAR.format(name='y2')}\b",
            # 2025-10-04 (an ISO timestamp may follow)
            rf"\b{_YEAR.format(name='y3')}-(?P<m3>[01]\d)-(?P<d3>[0-3]\d)"
            r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w:])",
        ]
    ),
    re.IGNORECASE,
)

# What may stand beside the date on a dateline: times, zones, weekdays, the words news sites
# put around dates, and separators.
_TIME = r"\b\d{1,2}(?:[:.]\d{2})?\s*(?:[ap]\.?\s?m\.?|h)(?!\w)|\b\d{1,2}[:.]\d{2}(?::\d{2})?(?:z|[+-]\d{2}:?\d{2})?\b"
_ZONE = (
    r"\b(?:et|ct|mt|pt|est|edt|cst|cdt|mst|mdt|pst|pdt|akst|akdt|hst|gmt|bst|utc|cet|cest|eet|"
    r"eest|ist|jst|kst|aest|aedt|awst|nzst|nzdt|sgt|hkt|wib)\b"
)
_WEEKDAY = (
    r"\b(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)\b\.?"
)
_DATE_WORDS = (
    r"\b(?:updated|update|published|posted|first published|last updated|last modified|"
    r"modified|originally published|on|at|date|dated|as of)\b"
)
_FILLER = re.compile("|".join([_TIME, _ZONE, _WEEKDAY, _DATE_WORDS]), re.IGNORECASE)
_BYLINE = re.compile(r"^\W*by\b", re.IGNORECASE)

# A dateline is looked for among this many non-empty lines at the top of the body ...
_HEAD_LINES = 8
# ... else among this many at the bottom.
_TAIL_LINES = 3
# ... and is never longer than this; a short byline may share it.
_MAX_DATELINE_WORDS = 24
_MAX_BYLINE_WORDS = 8
_MAX_DATELINE_CHARS = 200


@dataclass(frozen=True)
class DatedText:
    """A date found for a document, and where it was found: `data` (a field, front matter or
    metadata) or `dateline` (the text; `line` is that line)."""

    date: str
    source: str
    line: str | None = None


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return _dt.date(year, month, day).isoformat()
    except ValueError:
        return None


def _match_date(m: re.Match[str]) -> str | None:
    for k in "123":
        if m[f"y{k}"]:
            month = m[f"m{k}"]
            month_no = int(month) if month.isdigit() else _MONTHS[month.lower()]
            return _iso(int(m[f"y{k}"]), month_no, int(m[f"d{k}"]))
    return None


def is_dateline(line: str) -> bool:
    """A short line that states a date and little else (see the module docstring)."""
    return _dateline_date(line) is not None


def _dateline_date(line: str) -> str | None:
    if len(line) > _MAX_DATELINE_CHARS:
        return None
    words = len(WORD.findall(line))
    if words == 0 or words > _MAX_DATELINE_WORDS:
        return None
    matches = list(_DATE.finditer(line))
    if not matches:
        return None
    rest = _FILLER.sub(" ", _DATE.sub(" ", line))
    left = WORD.findall(rest)
    if left and not (_BYLINE.match(rest) and len(left) <= _MAX_BYLINE_WORDS + 1):
        return None
    for m in matches:
        date = _match_date(m)
        if date:
            return date
    return None


def find_dateline(text: str) -> DatedText | None:
    """The publication date from a dateline among the first lines of `text` (else among its
    last few lines, where some sites put a byline with the date), if there is one."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for line in lines[:_HEAD_LINES] + lines[-_TAIL_LINES:][::-1]:
        date = _dateline_date(line)
        if date:
            return DatedText(date, "dateline", line)
    return None


_ISO_PREFIX = re.compile(r"^\s*((?:19|20)\d\d)-([01]\d)-([0-3]\d)(?![\d])")


def parse_date(value: str | None) -> str | None:
    """A date stated as data (`2025-10-04`, `2025-10-04T09:00:00Z`, `Oct. 4, 2025`, `4 octobre
    2025`) as ISO `YYYY-MM-DD`; None when it is not a whole calendar date."""
    if not value or not value.strip():
        return None
    m = _ISO_PREFIX.match(value)
    if m:
        return _iso(int(m[1]), int(m[2]), int(m[3]))
    m = _DATE.search(value)
    if m:
        date = _match_date(m)
        if date:
            return date
    # Imported here: dateparser is slow to import and most files never need it.
    import dateparser

    parsed = dateparser.parse(
        value.strip(), settings={"REQUIRE_PARTS": ["day", "month", "year"]}
    )
    return parsed.date().isoformat() if parsed else None
