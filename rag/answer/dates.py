"""Time in questions: the date a question is asked from (`as_of`), and the publication-date range
its own wording implies ("this week", "recently", "last year", "in 2024", "before 2020").

News questions are about time: a search returns pages from many years, and "which leader visited
this week" means the week before the question was asked. `question_window` turns such wording into
a window relative to `as_of`; `time_window` makes it ranking evidence (`QuestionTime.prior`, a
`DatePrior`): passages published inside the window, or close to it, rank higher, more strongly when
the question's wording names a time than when only the day it is asked is known, and older ones stay
reachable when nothing recent answers. The one rule: a question asked on a date can never be about
an article published after it, so `as_of` bounds the range from above (`QuestionTime.ceiling`).
Documents without a known date are never dropped; they gain no date bonus. Deliberate
simplification: only English phrases, and a "week" is the seven days up to `as_of`, not a calendar
week.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from rag.errors import InputError
from rag.retrieval import DateFilter, DatePrior

_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december")
_MONTH = "|".join(_MONTHS)

# (pattern, days back from as_of that the window opens). Longer phrases first.
_RELATIVE: tuple[tuple[re.Pattern[str], int], ...] = tuple((re.compile(p, re.IGNORECASE), d) for p, d in (
    (r"\b(today|tonight|this morning|this afternoon|this evening)\b", 1),
    (r"\byesterday\b", 2),
    (r"\b(this|past|last few|the last few) days?\b|\bthis weekend\b", 7),
    (r"\b(?:on|last|this past)\s+(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", 7),
    (r"\b(this|the past|past) week\b", 7),
    (r"\blast week\b", 14),
    (r"\b(this|the past|past) month\b", 31),
    (r"\blast month\b", 62),
    (r"\b(recently|lately|in recent (?:days|weeks))\b", 31),
))
_THIS_YEAR = re.compile(r"\b(this|the past|past) year\b", re.IGNORECASE)
_LAST_YEAR = re.compile(r"\blast year\b", re.IGNORECASE)
_BEFORE = re.compile(rf"\b(?:before|prior to|until)\s+(?:({_MONTH})\s+)?((?:19|20)\d\d)\b", re.IGNORECASE)
_IN = re.compile(rf"\b(?:in|during)\s+(?:({_MONTH})\s+)?((?:19|20)\d\d)\b", re.IGNORECASE)
_AFTER = re.compile(rf"\b(after|since)\s+(?:({_MONTH})\s+)?((?:19|20)\d\d)\b", re.IGNORECASE)


def without_time_words(question: str) -> str:
    """The question without the words that name its time relative to when it is asked ("this
    week", "recently", "on Monday"): those are date evidence (`time_window`), and as words they
    only match other years' articles that say "this week" too. Years and month names stay (they
    are words an article about that time holds). The question unchanged when nothing else is left."""
    out = question
    for pattern, _ in _RELATIVE:
        out = pattern.sub(" ", out)
    out = _THIS_YEAR.sub(" ", _LAST_YEAR.sub(" ", out))
    out = re.sub(r"\s+([?.,!])", r"\1", re.sub(r"\s{2,}", " ", out)).strip()
    return out if not asks_only_time(question) else question


_GENERIC = re.compile(r"(?i)\b(what|which|who|when|where|how|why|happened|happening|happen|did|does|do|was|were|is|"
                      r"are|has|have|had|the|a|an|in|on|news|new|going|went|occurred|events?|stor(?:y|ies))\b")


def asks_only_time(question: str) -> bool:
    """Whether the question names a time and nothing else to look for ("What happened this
    week?"): then the date is all there is to rank by."""
    out = question
    for pattern, _ in _RELATIVE:
        out = pattern.sub(" ", out)
    out = _THIS_YEAR.sub(" ", _LAST_YEAR.sub(" ", out))
    return out != question and not re.search(r"\w{3,}", _GENERIC.sub(" ", out))


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
    m = _IN.search(question)
    if m and since is None and not _BEFORE.search(question) and not _AFTER.search(question):
        year = int(m.group(2))
        month = _MONTHS.index(m.group(1).lower()) + 1 if m.group(1) else None
        first = dt.date(year, month or 1, 1)
        last = (dt.date(year + (month == 12), month % 12 + 1, 1) if month else dt.date(year + 1, 1, 1)) \
            - dt.timedelta(days=1)
        if first <= day:
            since, until = first, min(until, last)
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


@dataclass(frozen=True)
class DateEvidence:
    """How much a passage's publication date counts in its ranking (`DatePrior`): `worded_*` when
    the question's wording names a time ("this week", "in 2024"), `plain_*` when only the day it is
    asked is known (then closeness to that day counts). A weight is added to the fused retrieval
    score (0..1); the half-life is in days outside the window. Fitted on the RealTime QA dev weeks
    (ids before 20251114) by benchmarks/bench_date_prior.py; held-out figures in
    benchmarks/RESULTS-dates.md."""

    # Fitted values (grid 0..0.3 x 7/14/30 days x rank 0..2, then the plain prior at that point):
    # on the 27 answerable dev questions the landscape is flat within one or two questions; this
    # point ties the best containment (13/27) and has the most answers from the question's week
    # among the smallest weights. Weights of 0.5 and more cost false abstentions and gold pages
    # (the hard-filter failure: many answering pages are dated outside the window).
    worded_weight: float = 0.1
    worded_half_life: float = 14.0
    plain_weight: float = 0.0  # no dev question gained or lost at 0.05..0.2: nothing to fit, so none
    plain_half_life: float = 180.0
    # Which sentence answers (`extractive.Scorer` rank): multiplied by 1 + rank * closeness, the
    # closeness being the prior's bonus over its weight (1 inside the window, halving per half-life).
    worded_rank: float = 0.5
    plain_rank: float = 0.0


DATE_EVIDENCE = DateEvidence()
ONLY_TIME_WEIGHT = 1.0  # the fused score's whole range: the date decides, the words break ties


@dataclass(frozen=True)
class QuestionTime:
    """When a question is asked and what time its wording points to. `as_of` is the day it is asked
    (today when none was given); `window` the publication dates its wording names (inactive when
    it names none); `bounded`: no document published after `as_of` may be used (an as-of date was
    given, or the wording is relative to today)."""

    as_of: str
    window: DateFilter
    bounded: bool

    @property
    def worded(self) -> bool:
        return self.window.active

    def ceiling(self, asked: DateFilter) -> DateFilter:
        """The user's range (a rule) narrowed to "not after as_of" when bounded. Undated documents
        stay in unless the user gave a range."""
        if not self.bounded:
            return asked
        until = min(filter(None, (asked.until, self.as_of)))
        if asked.since and asked.since > until:
            return asked
        return DateFilter(since=asked.since, until=until, keep_undated=not asked.active)

    def rank_weight(self, evidence: DateEvidence | None = None) -> float:
        evidence = DATE_EVIDENCE if evidence is None else evidence
        return evidence.worded_rank if self.worded else evidence.plain_rank

    def prior(self, evidence: DateEvidence | None = None, only_time: bool = False) -> DatePrior:
        """The date evidence; `only_time`: the question names nothing but its time (`asks_only_time`),
        so the date outweighs any words it matches."""
        evidence = DATE_EVIDENCE if evidence is None else evidence
        if self.worded:
            weight = max(evidence.worded_weight, ONLY_TIME_WEIGHT) if only_time else evidence.worded_weight
            return DatePrior(since=self.window.since, until=self.window.until, weight=weight,
                             half_life_days=evidence.worded_half_life)
        return DatePrior(since=self.as_of, until=self.as_of, weight=evidence.plain_weight,
                         half_life_days=evidence.plain_half_life)


def time_window(question: str, as_of: str | None) -> QuestionTime:
    """The question's time, asked on `as_of` (else today)."""
    day = as_of or today()
    w = question_window(question, day)
    worded = w.since is not None or w.until != day
    window = DateFilter(since=w.since, until=w.until, keep_undated=True) if worded else DateFilter()
    return QuestionTime(as_of=day, window=window, bounded=as_of is not None or worded)


# -- relative dates inside an article: "on Tuesday", "last week" mean dates once its date is known --
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_LEADS = {"on", "last", "by", "since", "until", "early", "late", "next", "this", "that", "from", "through",
          "and", "or", "but", "before", "after", "past"}
_IN_TEXT = re.compile(
    r"\b(?:(?P<lead>on|last|next|this past|early|late)\s+)?(?P<weekday>" + "|".join(w.title() for w in _WEEKDAYS) +
    r")\b(?!,?\s+(?:" + _MONTH.title() + r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b)(?!,?\s+\d)"
    r"|\b(?P<day>yesterday|today|tonight|this morning|this afternoon|this evening|earlier today)\b"
    r"|\b(?P<rel>last|this|next|earlier this|later this)\s+(?P<unit>week|month|year)\b", re.IGNORECASE)
_DAY_OFFSET = {"yesterday": -1}


@dataclass(frozen=True)
class RelativeDate:
    """Words of an article that name a time relative to its publication ("on Tuesday"), and the
    calendar date or period they mean ("Tuesday, 2025-11-18", "the week of 2025-11-10")."""

    words: str
    means: str
    start: int
    end: int


def relative_dates(text: str, published: str | None) -> list[RelativeDate]:
    """The relative time expressions of `text`, an article published on `published` (YYYY-MM-DD),
    with what they mean. None when the article's date is unknown or not a date. A weekday means
    the last such day on or before publication ("last Tuesday": strictly before; "next Tuesday":
    the first after); a weekday that is part of a name ("Super Tuesday", "Black Friday") or
    followed by a date ("Tuesday, Nov. 18") is left alone. A week is Monday to Sunday."""
    if not published:
        return []
    try:
        pub = dt.date.fromisoformat(published[:10])
    except ValueError:
        return []
    out: list[RelativeDate] = []
    for m in _IN_TEXT.finditer(text):
        means: str | None = None
        if m.group("weekday"):
            before = re.search(r"(\w+)\W*$", text[:m.start()])
            if not m.group("lead") and before and before.group(1)[:1].isupper() \
                    and before.group(1).lower() not in _LEADS:
                continue  # part of a name: "Super Tuesday", "Black Friday"
            if not m.group("weekday")[:1].isupper():
                continue  # "a tuesday" in prose is rare; a day's name is written capitalised
            target = _WEEKDAYS.index(m.group("weekday").lower())
            lead = (m.group("lead") or "").lower()
            if lead == "next":
                day = pub + dt.timedelta(days=(target - pub.weekday() - 1) % 7 + 1)
            else:
                back = (pub.weekday() - target) % 7
                if lead in ("last", "this past") and back == 0:
                    back = 7
                day = pub - dt.timedelta(days=back)
            means = f"{_WEEKDAYS[target].title()}, {day.isoformat()}"
        elif m.group("day"):
            word = m.group("day").lower()
            means = (pub + dt.timedelta(days=_DAY_OFFSET.get(word, 0))).isoformat()
        else:
            rel, unit = m.group("rel").lower(), m.group("unit").lower()
            step = -1 if rel == "last" else 1 if rel == "next" else 0
            if unit == "week":
                monday = pub - dt.timedelta(days=pub.weekday()) + dt.timedelta(weeks=step)
                means = f"the week of {monday.isoformat()}"
            elif unit == "month":
                index = pub.year * 12 + pub.month - 1 + step
                means = f"{_MONTHS[index % 12].title()} {index // 12}"
            else:
                means = str(pub.year + step)
        out.append(RelativeDate(words=m.group(0), means=means, start=m.start(), end=m.end()))
    return out
