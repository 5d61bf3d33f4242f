"""Time in questions: the date a question is asked from (`as_of`), and the publication-date range
its own wording implies ("this week", "last year", "before 2020").

News questions are about time: a search returns pages from many years, and "which leader visited
this week" means the week before the question was asked. `question_window` turns such wording into
a `DateFilter` relative to `as_of`. The window is a preference, not a rule: documents without a
known date stay in, and when nothing is left inside it the caller searches without it. A question
asked on a date can never be about an article published after it, so `as_of` alone bounds the range
from above. Deliberate simplification: only English phrases, and a "week" is the seven days up to
`as_of`, not a calendar week.
"""

from __future__ import annotations

import datetime as dt
import re

from rag.errors import InputError
from rag.retrieval import DateFilter

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_MONTH = "|".join(_MONTHS)

# (pattern, days back from as_of that the window opens). Longer phrases first.
_RELATIVE: tuple[tuple[re.Pattern[str], int], ...] = tuple((re.compile(p, re.IGNORECASE), d) for p, d in (
    (r"\b(today|tonight|this morning|this afternoon|this evening)\b", 1),
    (r"\byesterday\b", 2),
    (r"\b(this|past|last few|the last few) days?\b|\bthis weekend\b", 7),
    (r"\b(this|the past|past) week\b", 7),
    (r"\blast week\b", 14),
    (r"\b(this|the past|past) month\b", 31),
    (r"\blast month\b", 62),
))
_THIS_YEAR = re.compile(r"\b(this|the past|past) year\b", re.IGNORECASE)
_LAST_YEAR = re.compile(r"\blast year\b", re.IGNORECASE)
_BEFORE = re.compile(rf"\b(?:before|prior to|until)\s+(?:({_MONTH})\s+)?((?:19|20)\d\d)\b", re.IGNORECASE)
_AFTER = re.compile(rf"\b(after|since)\s+(?:({_MONTH})\s+)?((?:19|20)\d\d)\b", re.IGNORECASE)


def parse_date(text: str, what: str = "date") -> str:
    """An ISO date (YYYY-MM-DD) checked to be a real day; InputError otherwise."""
    try:
        if len(text) != 10:
            raise ValueError
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise InputError(f"{what} must be a date as YYYY-MM-DD, not {text!r}") from None


def today() -> str:
    return dt.date.today().isoformat()


def question_window(question: str, as_of: str) -> DateFilter:
    """The publication dates a question asked on `as_of` is about (both ends inclusive)."""
    day = dt.date.fromisoformat(parse_date(as_of, "as_of"))
    since: dt.date | None = None
    until = day
    for pattern, back in _RELATIVE:
        if pattern.search(question):
            since = day - dt.timedelta(days=back)
            break
    else:
        if _THIS_YEAR.search(question):
            since = dt.date(day.year, 1, 1)
        elif _LAST_YEAR.search(question):
            since = dt.date(day.year - 1, 1, 1)  # reports on last year may be published this year
    m = _BEFORE.search(question)
    if m:
        month = _MONTHS.index(m.group(1).lower()) + 1 if m.group(1) else 1
        until = min(until, dt.date(int(m.group(2)), month, 1) - dt.timedelta(days=1))
    m = _AFTER.search(question)
    if m:
        year, month = int(m.group(3)), _MONTHS.index(m.group(2).lower()) + 1 if m.group(2) else None
        if m.group(1).lower() == "since":  # "since March 2020" includes March 2020
            first = dt.date(year, month or 1, 1)
        elif month:  # "after March 2020": from April
            first = dt.date(year + (month == 12), month % 12 + 1, 1)
        else:
            first = dt.date(year + 1, 1, 1)
        since = max(since, first) if since else first
    if since is not None and since > until:
        since = None  # contradictory wording: keep only the upper bound
    return DateFilter(since=since.isoformat() if since else None, until=until.isoformat(), keep_undated=True)
