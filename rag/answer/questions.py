"""What a question asks, and which phrases of a sentence could answer it.

- The question's parts: the sentences that ask and those that only set it up
  ("Dick Cheney died this week. Under which president did he serve?").
- The kind of answer it wants (`answer_type`): a date, an amount, a country or a US state (from
  `places.toml`, data), a term (what something is called), a person's role ("Who is To Lam?"),
  the holder of a role ("Who is the prime minister?"), another name, or none, decided by the
  first question word of the sentence that asks; for an amount, the measure its wording asks for
  (`amount_measure`: a span of time, money, a percent or a count).
- The phrases of a sentence that are of that kind and are not the question's own words
  (`answer_candidates`), and the one that answers (`answer_phrase`, marked in an answer).
- The question's words the answer must hold (`question_words`), those only in its set-up
  (`background_words`), and the names no indexed article mentions (`unknown_names`).

The extractive answerer (extractive.py) scores sentences with these; the pipeline uses the
question frame words when it rewrites a follow-up.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Callable, Sequence

from rag.answer.citations import content_words
from rag.words import STOPWORDS


def _data(name: str) -> dict:
    """A TOML data file of this package (`places.toml`, `questions.toml`)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


# The word lists of `questions.toml` (data: general English, not article words).
_WORDS = _data("questions.toml")


def _alternatives(words: Sequence[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|" \
         r"Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)"
# Dates: "June 19, 2024", "June 19-20", "May 15 and 16", "March 2023", "19-20 June", "19 June 2024", a year, a weekday.
_DATE = re.compile(rf"\b(?:\d{{1,2}}(?:\s*[-–]\s*\d{{1,2}})?\s+)?{MONTHS}"
                   rf"(?:\s+\d{{1,2}}\b(?:\s*(?:[-–]|and|&)\s*\d{{1,2}}\b)?(?:,?\s*\d{{4}})?|\s+\d{{4}})?|"
                   r"\b(?:1[89]\d\d|20\d\d)\b|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b")
_NUMBER_WORDS = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|twice|thrice)"
_AMOUNT = re.compile(r"(?:US)?\$\s?\d[\d,.]*(?:\s*(?:billion|million|trillion|thousand))?|"
                     r"\b\d[\d,.]*\s*(?:billion|million|trillion|thousand|per ?cent|percent|%)|\b\d[\d,.]*\b|"
                     rf"\b{_NUMBER_WORDS}\b", re.IGNORECASE)
# Capitalised words that are not names: dates (asked for by "when") and words that open a clause.
_NOT_A_NAME = re.compile(rf"(?:{MONTHS}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|"
                         rf"(?:{_alternatives(_WORDS['not_names'])}))(?:\s+\d.*)?")
_OPENING_MARKS = "\"“‘'([ -—–"
# A name: capitalised words, initials ("K."), abbreviations ("U.S."), and the small words inside names.
_NAME = re.compile(r"\b(?:[A-Z]\.(?:[A-Z]\.)+|[A-Z][\w’'-]+)"
                   r"(?:\s+(?:[A-Z]\.(?:[A-Z]\.)+|[A-Z][\w’'-]+|[A-Z]\.|(?:of|the|de|van|bin|al)(?=\s+[A-Z])))*")


_WH = re.compile(r"\b(?:who|whom|whose|what|which|when|where|why|how)\b", re.IGNORECASE)
# A question's sentences: not split after an initial ("Daniel K. Inouye") or a title ("Mr. Lam").
_QUESTION_SENTENCE = re.compile(r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\bM[rs]\.)(?<!\bDr\.)(?<!\bMrs\.)\s+(?=[A-Z\"“])")


def question_parts(question: str) -> tuple[list[str], list[str]]:
    """The question's sentences that ask (they end in "?" or hold a question word) and those that
    only set it up ("Dick Cheney died this week. Under which president did he serve?")."""
    parts = [p for p in _QUESTION_SENTENCE.split(question.strip()) if p]
    asking = [p for p in parts if p.rstrip().endswith("?")] or [p for p in parts if _WH.search(p)] or parts
    return asking, [p for p in parts if p not in asking]


PLACE_KINDS = ("country", "state")
SPECIFIC_KINDS = ("date", "amount", *PLACE_KINDS)  # kinds a sentence plainly holds or not
# Kinds only a sentence holding a candidate may answer: the specific kinds, what a named person is
# ("role": "Who is To Lam?") and who holds a named role ("holder": "Who is Vietnam's prime minister?").
REQUIRED_KINDS = (*SPECIFIC_KINDS, "role", "holder")

# "Who is ...?": the asking sentence is only "who" + a form of "be" + what it asks about.
_WHO_IS = re.compile(r"^\s*who\s+(?:is|was|are|were)\s+(.+?)[\s?.!]*$", re.IGNORECASE)
_NAME_PARTICLES = frozenset({"of", "de", "van", "von", "bin", "al", "da", "di", "le", "la"})
# A role named by what it belongs to: "the ...", "a ...", "Vietnam's ...", "its ...".
_ROLE_OWNER = re.compile(r"(?:the|a|an|his|her|its|their|[A-Z][\w.’'-]*(?:\s+[A-Z][\w.’'-]*)*[’']s)\s+(.+)$")
_ROLE_END = re.compile(r",|;|\s(?:who|that|which|whom|whose)\b")
_ROLE_MODIFIERS = frozenset(_WORDS["role_modifiers"])  # "current", "new": not asked of the answer


# "What is this approach called?", "What was the operation dubbed?": the question asks for a term.
_CALLED = re.compile(rf"\b(?:{_alternatives(_WORDS['called'])})\s*[?.!]*\s*$")
# "What nickname ...", "Which term ...", "What is the phrase ...": ditto.
_TERM_NOUNS = rf"(?:(?:is|was|are|were) (?:the|this|that) )?(?:\w+ )?(?:{_alternatives(_WORDS['term_nouns'])})\b(?! of)"
# A short quoted phrase: how articles introduce a term ("some experts called “bamboo diplomacy”").
_QUOTED_TERM = re.compile(r"(?<!\w)[“\"‘']([^“”\"‘’']{2,60}?)[,.]?[”\"’'](?!\w)")


def answer_type(question: str) -> str | None:
    """The kind of thing the question asks for: "date", "amount", "country", "state" (of the
    United States), a "term" (what something is called: a quoted phrase or a name), a "role"
    (what the person a "Who is <name>?" names is), a "holder" (the name of who holds the role a
    "Who is <the role>?" names), another "name", or None. Decided by the first question word of the sentence
    that asks, so that a later subordinate "when" ("Which country was hit hardest when the storm
    ...?") does not turn a name question into a date one."""
    asking, _ = question_parts(question)
    if asked_person(question):
        return "role"
    if asked_role(question):
        return "holder"
    q = (asking[0] if asking else question).lower()
    m = _WH.search(q)
    if not m:
        return None
    wh, rest = m.group(0), q[m.end():].lstrip()
    if wh in ("what", "which") and (_CALLED.search(q) or re.match(_TERM_NOUNS, rest)
                                    or (re.match(r"names?\b", rest) and re.search(r"\b(?:give|gives|given|gave)\b", rest))):
        return "term"  # "What name have experts given to the policy?" asks for a term, as "called" does
    if wh == "when":
        return "date"
    if wh in ("who", "whom", "whose", "where"):
        return "name"
    if wh == "why":
        return None
    if wh == "how":
        return "amount" if re.match(r"(?:much|many|large|big|long|far|old|tall|high|deep|fast)\b", rest) else None
    if re.match(r"(?:year|month|date|day|decade)s?\b", rest):
        return "date"
    if re.match(r"(?:amount|number|percentage|share|sum|price|total|age)\b", rest):
        return "amount"
    if re.match(r"(?:countr(?:y|ies)|nations?)\b", rest):
        return "country"
    if re.match(r"(?:u\.?s\.?\s+)?states?\b(?![-’'])", rest):
        return "state"
    if re.match(r"(?:is|was|are|were) (?:the|its|their|his|her) names?\b", rest) or \
            re.match(r"(?!is\b|was\b|are\b|were\b|did\b|does\b|do\b|has\b|have\b|will\b)\w+", rest):
        return "name"
    return None


def _who_is(question: str) -> str | None:
    asking, _ = question_parts(question)
    m = _WHO_IS.match(asking[0] if asking else question)
    return m.group(1).strip() if m else None


@functools.lru_cache(maxsize=64)
def asked_person(question: str) -> str | None:
    """The name a "Who is <name>?" question asks about ("To Lam"): such a question asks what the
    person is (a title, an office, an occupation), not for another name. None for other questions."""
    rest = _who_is(question)
    if not rest:
        return None
    words = rest.split()
    if not words[0][:1].isupper() or words[0] in ("The", "A", "An") or words[-1].endswith(("’s", "'s")):
        return None
    if all(w[:1].isupper() or w in _NAME_PARTICLES for w in words):
        return rest
    return None


@functools.lru_cache(maxsize=64)
def asked_role(question: str) -> tuple[str, ...]:
    """The words of the role a "Who is <the/X's role>?" question asks the holder of, as stems
    ("Who is Vietnam's prime minister?" -> prime, minist): a sentence that does not name the role
    does not say who holds it ("the foreign minister" is not "the prime minister"). Modifiers that
    only place the role in time ("current", "new") are not required. Empty for other questions."""
    rest = _who_is(question)
    if not rest:
        return ()
    m = _ROLE_OWNER.match(_ROLE_END.split(rest)[0].strip())
    if not m:
        return ()
    lower = [w for w in re.findall(r"[\w’'-]+", m.group(1)) if w[:1].islower()
             and w.lower() not in _ROLE_MODIFIERS]
    return tuple(dict.fromkeys(content_words(" ".join(lower))))


_TIME_UNIT = re.compile(rf"(?:{_alternatives(_WORDS['time_units'])})\b", re.IGNORECASE)
_CURRENCY = re.compile(rf"(?:{_alternatives(_WORDS['currencies'])})\b", re.IGNORECASE)
_MONEY_VERBS = re.compile(rf"\b(?:{_alternatives(_WORDS['money_verbs'])})\b")
_PERCENT = re.compile(r"(?:%|per ?cent\b|percent\b)", re.IGNORECASE)


@functools.lru_cache(maxsize=64)  # asked once per candidate sentence of the answer pool
def amount_measure(question: str) -> str | None:
    """What an amount question measures, when its wording says: a "period" ("How long ...?", "How
    many years ...?"), "money" ("How much money ...?", "How much did it cost?"), a "percent"
    ("What percentage ...?"), an "age" ("How old ...?") or a "count" ("How many inmates ...?");
    None for any amount."""
    asking, _ = question_parts(question)
    q = (asking[0] if asking else question).lower()
    if re.search(r"\bhow old\b|\bwhat age\b", q):
        return "age"
    m = re.search(r"\bhow\s+(long|much|many)\b\s*(\w*)", q)
    if m:
        what, noun = m.group(1), m.group(2)
        if what == "long":
            return "period"
        if what == "much":
            return "money" if noun == "money" or _MONEY_VERBS.search(q[m.end():]) else None
        if _TIME_UNIT.fullmatch(noun):
            return "period"
        return "count" if noun else None
    if re.search(r"\bwhat\s+(?:percentage|percent|share)\b", q):
        return "percent"
    return None


_KIND_WORDS = {"date": "date", "country": "country", "state": "US state"}
_MEASURE_WORDS = {"period": "span of time", "money": "amount of money", "percent": "percentage",
                  "age": "age", "count": "number", None: "amount"}


def kind_in_words(question: str) -> str | None:
    """What a date, amount, country or state question asks for, in words ("span of time" for "How
    long ...?"); None for other questions."""
    kind = answer_type(question)
    if kind == "amount":
        return _MEASURE_WORDS[amount_measure(question)]
    return _KIND_WORDS.get(kind or "")


def _is_measure(sentence: str, m: re.Match[str], measure: str) -> bool:
    """Whether the amount `m` of the sentence is of the measure asked: a number followed by a unit
    of time for a period, a currency for money, a percent sign or word for a percent, a figure up
    to 130 for an age; for a count, a plain number (not money, a percent or a span of time, nor
    part of a name such as "COVID 19")."""
    text, after = m.group(0), sentence[m.end():m.end() + 30]
    before = sentence[max(0, m.start() - 3):m.start()]
    money = bool(re.search(r"[$£€¥]", text + before)) or bool(_CURRENCY.match(after.lstrip()))
    percent = bool(_PERCENT.search(text)) or bool(_PERCENT.match(after.lstrip()))
    following = re.findall(r"[a-z]+", after.lower())[:2]  # "nine months", "a 3-year low", "30 more days"
    period = any(_TIME_UNIT.fullmatch(w) for w in following)
    if measure == "period":
        return period and not money
    if measure == "money":
        return money
    if measure == "percent":
        return percent
    if measure == "age":  # "91", "aged 91", "91 years old": news writes ages in figures
        return not (money or percent) and bool(re.fullmatch(r"\d{1,3}", text.strip())) and 0 < int(text) <= 130
    return not (money or percent or period or (text[:1].isdigit() and _names_number(sentence, m.start())))


def _names_number(sentence: str, start: int) -> bool:
    """Whether the number at `start` is part of a name: "COVID 19", "Boeing 737", "Apollo 11" (a
    capitalised word before it that is not the sentence's opening word, or an acronym)."""
    m = re.search(r"(?<![\w’'])([A-Z][\w]*)[\s-]$", sentence[:start])
    if not m:
        return False
    opening = len(sentence) - len(sentence.lstrip(_OPENING_MARKS))
    return m.start(1) > opening or (len(m.group(1)) > 1 and m.group(1).isupper())


def answer_candidates(sentence: str, kind: str | None, question: str) -> list[tuple[int, int]]:
    """Spans of phrases of the asked kind in the sentence, without the words the question already
    has at either end ("Vietnamese President To Lam" -> "To Lam" for "Which Vietnamese president")."""
    if kind is None:
        return []
    qwords = {w.lower() for w in re.findall(r"\w+", question)}
    if kind == "role":
        return role_phrases(sentence, asked_person(question) or "")
    if kind == "holder":
        if not set(asked_role(question)) <= set(content_words(sentence)):
            return []
        kind = "name"
    if kind in PLACE_KINDS:
        return [(m.start(), m.end()) for m in place_names(kind).finditer(sentence)
                if not all(_in_question(w.lower(), qwords) for w in re.findall(r"\w+", m.group(0)))]
    if kind == "date":
        found = list(_DATE.finditer(sentence))
    elif kind == "amount":
        dates = [d.span() for d in _DATE.finditer(sentence)]  # "19" of "19-20 June" is a day, 2022 a year
        measure = amount_measure(question)
        found = [m for m in _AMOUNT.finditer(sentence) if not any(a <= m.start() < b for a, b in dates)
                 and (measure is None or _is_measure(sentence, m, measure))]
    elif kind == "term":
        return [(m.start(1), m.end(1)) for m in _QUOTED_TERM.finditer(sentence)
                if len(m.group(1).split()) <= 6
                and not all(_in_question(w, qwords) for w in re.findall(r"\w+", m.group(1).lower())
                            if w not in STOPWORDS)] or answer_candidates(sentence, "name", question)
    else:
        opening = len(sentence) - len(sentence.lstrip(_OPENING_MARKS))
        found = [m for m in _NAME.finditer(sentence)
                 if (m.start() > opening or sum(w[:1].isupper() for w in m.group(0).split()) > 1)
                 and not _NOT_A_NAME.fullmatch(m.group(0))]
    out = []
    for m in found:
        words = [w for w in re.finditer(r"[\w’'-]+", m.group(0))]
        first = words[0]
        if kind == "name" and len(words) > 1 and _NOT_A_NAME.fullmatch(first.group(0)):
            while len(words) > 1 and _NOT_A_NAME.fullmatch(words[0].group(0)):
                words = words[1:]  # "The U.S." is "U.S."; "On Friday Putin" is "Putin"
            if _NOT_A_NAME.fullmatch(words[0].group(0)):
                continue  # "In March" is no name
        new = [w for w in words if not ((kind == "name" and w.group(0).islower())
                                        or _in_question(re.sub(r"[’']s$", "", w.group(0).lower()), qwords))]
        if not new:
            continue
        if kind == "name" and words[-1] is not new[-1] and words[-1].group(0)[:1].isupper():
            continue  # a name ends in its head: "Russian President Vladimir Putin" is the asked-about Putin
        if kind == "name" and _renames_question_word(sentence, m.start(), qwords):
            continue  # "ASEAN, the Association of Southeast Asian Nations": the question's own term
        start = m.start() if new[0] is first else m.start() + new[0].start()
        end = m.end() if new[-1] is words[-1] else m.start() + new[-1].end()
        out.append((start, end))
    return out


_TITLE_BEFORE = re.compile(r"((?:[A-Z][\w’'.-]*\s+)+)$")
_ROLE_BEFORE = re.compile(r"(?:^|[,;(—–]\s*|\b(?:including|of|by|with|and)\s+)[“\"‘']?"
                          r"((?:the|a|an|its|his|her|their|[A-Z][\w’'-]*[’']s)\s+[^,;()—–“”\"]{2,80}?)\s*[,—–]\s*$")
_ROLE_AFTER = re.compile(r"^\s*(?:,|—|–|\(|\s+(?:is|was)\b)\s*((?:the|a|an)\s+[^,;()—–“”\"]{2,80}?)\s*(?=[,;)—–.]|$)")


def role_phrases(sentence: str, name: str) -> list[tuple[int, int]]:
    """Spans that say what the person `name` is, next to the name in the sentence: a title before
    it ("Vietnamese President To Lam"), a phrase set beside it ("the current head of the Communist
    Party, Nguyen Phu Trong"; "Alexander Vuving, a professor at ..."), or what it is said to be
    ("Trong is the party's leader"). The name is found by its last word ("Trong" for "Nguyen Phu
    Trong"), with as much of the rest of it as the sentence writes before that word."""
    words = name.split()
    if not words:
        return []
    out: list[tuple[int, int]] = []
    for m in re.finditer(rf"(?<![\w’'-]){re.escape(words[-1])}(?![\w-])", sentence):
        start = m.start()
        for w in reversed(words[:-1]):  # "Nguyen Phu " before "Trong" is the name too
            before = re.search(rf"{re.escape(w)}\s+$", sentence[:start])
            if not before:
                break
            start = before.start()
        head = sentence[:start]
        title = _TITLE_BEFORE.search(head)
        if title:
            parts = list(re.finditer(r"\S+", title.group(1)))
            while parts and _NOT_A_NAME.fullmatch(parts[0].group(0).rstrip(".")):
                parts = parts[1:]  # "On Thursday President ..." : the title is "President"
            if parts:
                out.append((title.start() + parts[0].start(), title.start() + parts[-1].end()))
        before = _ROLE_BEFORE.search(head)
        if before:
            out.append(before.span(1))
        after = _ROLE_AFTER.match(sentence[m.end():])
        if after:
            out.append((m.end() + after.start(1), m.end() + after.end(1)))
    return sorted(set(out))


@functools.cache
def place_names(kind: str) -> re.Pattern[str]:
    """The names of the places of one kind ("country", "state"), from `places.toml` (data: world
    knowledge, not article words), as one case-sensitive whole-word pattern, longest names first."""
    data = _data("places.toml")
    names = sorted({n for group in data[{"country": "countries", "state": "states"}[kind]] for n in group},
                   key=len, reverse=True)
    return re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)")


_APPOSITION = re.compile(r"([\w’'-]+)[”\"’']?\s*[,(—–-][”\"’']?\s*[“\"‘']?(?:the\s+|an?\s+)?$", re.IGNORECASE)


def _renames_question_word(sentence: str, start: int, qwords: set[str]) -> bool:
    """Whether the phrase at `start` is set beside a name the question uses, as its other name
    ("ASEAN, the Association of ..."); not a common noun it names ("a professor, Alexander ...")."""
    m = _APPOSITION.search(sentence[max(0, start - 60):start])
    return bool(m) and m.group(1)[:1].isupper() and _in_question(re.sub(r"[’']s$", "", m.group(1).lower()), qwords)


def _in_question(word: str, qwords: set[str]) -> bool:
    """The word, or a form of it ("Vietnam" for "Vietnamese", "Americans" for "American"), is
    in the question: the question's own words are not its answer."""
    if word in qwords:
        return True
    return len(word) >= 4 and any(len(q) >= 4 and (q.startswith(word) or word.startswith(q)) for q in qwords)


def has_type(sentence: str, kind: str | None, question: str) -> float:
    return 1.0 if answer_candidates(sentence, kind, question) else 0.0


def answer_phrase(sentence: str, question: str) -> tuple[int, int] | None:
    """Span of the phrase that answers within the sentence: the candidate of the asked kind that
    sits closest to the question's words; None when there is none."""
    cands = answer_candidates(sentence, answer_type(question), question)
    if not cands:
        return None
    wanted = set(question_words(question))
    anchors = [m.start() for m in re.finditer(r"\w+", sentence) if content_words(m.group(0))
               and content_words(m.group(0))[0] in wanted]
    if not anchors:
        return cands[0]
    return min(cands, key=lambda c: min(abs(c[0] - a) for a in anchors))


# Words that frame a question rather than name its topic ("what name is given to ...").
QUESTION_FRAME = frozenset(_WORDS["frame"])
_FRAME_STEMS = frozenset(content_words(" ".join(QUESTION_FRAME)))  # compared after stemming: "called" -> "call"


def question_words(question: str) -> list[str]:
    """The question's content words, without those that only frame it ("name", "called", the
    "many" of "how many")."""
    question = re.sub(r"\b(how)\s+(?:many|much)\b", r"\1", question, flags=re.IGNORECASE)
    return [w for w in dict.fromkeys(content_words(question)) if w not in _FRAME_STEMS]


def background_words(question: str) -> set[str]:
    """Words that only say where to look, counted at `BACKGROUND_WEIGHT`: those only in the set-up
    of a question of several sentences ("Dick Cheney died this week. Under which president did he
    serve?": the sentence that asks says what the answer must state), and those only in a
    parenthesis, the context a follow-up carries over ("When did it issue the warrant (regarding
    court arrest Putin)?")."""
    asking, setup = question_parts(question)
    asked = {w for p in asking for w in content_words(re.sub(r"\([^()]*\)", " ", p))}
    said = {w for p in asking + setup for w in content_words(p)}
    return said - asked


def without_outlets(question: str, publishers: Sequence[str]) -> str:
    """The question without the names of indexed publishers it mentions ("... according to The
    New York Sun?" -> "... according to?")."""
    for p in sorted(publishers, key=len, reverse=True):
        name = re.sub(r"^the\s+", "", p.strip(), flags=re.IGNORECASE)
        if len(name) >= 3:
            question = re.sub(rf"(?:\bthe\s+)?(?<!\w){re.escape(name)}(?!\w)", " ", question, flags=re.IGNORECASE)
    return question


def unknown_names(question: str, doc_freq: Callable[[Sequence[str]], dict[str, int]],
                  publishers: Sequence[str] = ()) -> list[str]:
    """Names and acronyms in the question (capitalised, not the first word) that no passage of
    the whole index contains: the articles cannot answer a question about something they never
    mention. A word of an indexed document's publisher ("according to The New York Sun") is known
    even though the cleaner took the outlet's name out of the text."""
    words = re.findall(r"[\w’'-]+", question)
    names = [w.strip("’'-") for i, w in enumerate(words[1:], 1)
             if w[:1].isupper() and w.lower() not in STOPWORDS]
    outlets = {w.lower() for p in publishers for w in re.findall(r"\w+", p)}
    names = [n for n in names if re.fullmatch(r"\w+", n) and n.lower() not in outlets]
    df = doc_freq([n.lower() for n in names])
    return [n for n in names if df.get(n.lower(), 1) == 0]


def question_acronyms(question: str) -> dict[str, set[str]]:
    """The question's own multi-word names by their initials: "International Criminal Court" -> icc."""
    out = {}
    for m in re.finditer(r"\b[A-Z][\w-]+(?:\s+(?:of\s+|the\s+|for\s+|and\s+)*[A-Z][\w-]+)+", question):
        caps = [w for w in m.group(0).split() if w[:1].isupper()]
        out["".join(w[0] for w in caps).lower()] = set(content_words(" ".join(caps)))
    return out
