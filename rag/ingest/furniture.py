"""Page furniture: the named line rules that strip what scrapers leave around an article.

Cookie banners, paywall and sign-in prompts, comment prompts, share/print/translate widgets,
navigation lines (`Home | About | Subscribe`), copyright and terms-of-use footers, repeated site names. The phrase lists are data, in
`furniture.toml` beside this module; the rules that weigh them are here.

Furniture removal is a list of named line rules (`RULES`) plus one block rule (`BLOCK_RULE`)
for fragments at the head or tail of a page next to removed furniture. `clean_with_report`
returns which rule removed which line.

Deliberate simplification: detection is lexical and line-based, on multilingual phrase lists
(en, fr, de, es, it, pt, nl, ru/uk, vi). A rule only fires on a line whose words are dominated
by furniture cues, so an article sentence that merely mentions "cookies" or "subscribe" is kept.
It will miss furniture phrased in ways the lists do not know; missing a banner is cheaper than
dropping a sentence of the article.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from rag.ingest.dates import is_dateline
from rag.ingest.text import CLOSED as _CLOSED
from rag.ingest.text import SENTENCE_END as _SENTENCE_END
from rag.ingest.text import WORD as _WORD
from rag.ingest.text import count_words as _words
from rag.ingest.text import normalize_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["RULES", "BLOCK_RULE", "clean_text", "clean_with_report", "is_standalone_furniture"]

_Patterns = tuple[tuple[re.Pattern[str], int], ...]


def _load_vocabulary() -> dict[str, dict[str, object]]:
    data = resources.files(__package__).joinpath("furniture.toml").read_text(encoding="utf-8")
    return tomllib.loads(data)


_VOCABULARY = _load_vocabulary()


def _cues(kind: str) -> _Patterns:
    # Patterns are written in lower case and matched against the lower-cased line: much faster
    # than IGNORECASE over Unicode.
    entry = _VOCABULARY[kind]
    return tuple((re.compile(p), 2) for p in entry["strong"]) + tuple(  # type: ignore[union-attr]
        (re.compile(p), 1) for p in entry["weak"]  # type: ignore[union-attr]
    )


_CONSENT = _cues("consent")
_PAYWALL = _cues("paywall")
_LEGAL = _cues("legal")
_COMMENT_WORDS = re.compile(str(_VOCABULARY["comment"]["words"]), re.IGNORECASE)
_COMMENT_PHRASE = re.compile(str(_VOCABULARY["comment"]["phrase"]), re.IGNORECASE)
_UI_CORE = frozenset(str(_VOCABULARY["widget"]["core"]).split())
_UI_FILLER = frozenset(str(_VOCABULARY["widget"]["filler"]).split())
_CREDIT = re.compile("|".join(f"(?:{p})" for p in _VOCABULARY["credit"]["patterns"]),  # type: ignore[union-attr]
                     re.IGNORECASE)
_BYLINE = re.compile(
    r"^(?:" + "|".join(re.escape(w) for w in _VOCABULARY["byline"]["starts"])  # type: ignore[union-attr]
    + r")\s+(?-i:[A-Z])", re.IGNORECASE
)
_CONTACT = re.compile("|".join(f"(?:{p})" for p in _VOCABULARY["contact"]["patterns"]),  # type: ignore[union-attr]
                      re.IGNORECASE)
_RELATED = re.compile("|".join(f"(?:{p})" for p in _VOCABULARY["related"]["patterns"]),  # type: ignore[union-attr]
                      re.IGNORECASE)
_NEWSLETTER = re.compile("|".join(f"(?:{p})" for p in _VOCABULARY["newsletter"]["patterns"]),  # type: ignore[union-attr]
                         re.IGNORECASE)
_NAV = _VOCABULARY["navigation"]
_NAV_SPLIT = re.compile(r"\s*(?:" + "|".join(re.escape(str(c)) for c in _NAV["separators"]) + r")\s*")  # type: ignore[union-attr]
_NAV_MIN_ITEMS = int(_NAV["min_items"])  # type: ignore[arg-type]
_NAV_ITEM_WORDS = int(_NAV["max_item_words"])  # type: ignore[arg-type]
_NAV_EDGE_LINES = int(_NAV["edge_lines"])  # type: ignore[arg-type]
_EMAIL_OR_HANDLE = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|(?<!\w)@\w{2,}")

# A furniture line needs at least one cue per this many words ("dominated by" furniture) ...
_WORDS_PER_CUE = 10
# ... and no line longer than this is ever furniture, however many cues it has.
_MAX_FURNITURE_WORDS = 80
# Without any strong cue, the line must be little more than a list of weak cues.
_WORDS_PER_WEAK_CUE = 3
# Lines swept up in a furniture block at the head or tail of a page are fragments at most
# this long.
_MAX_WEAK_WORDS = 12
# Credit lines and bylines are short; an author's contact/bio tail a little longer.
_MAX_CREDIT_WORDS = 40
_MAX_BYLINE_WORDS = 14
_MAX_CONTACT_WORDS = 70
_MAX_NEWSLETTER_WORDS = 50
# No site name or label is longer than this many characters.
_MAX_LABEL_CHARS = 120
# A dateline is only looked for among this many paragraphs at the top.
_DATELINE_LINES = 8


def _branches(source: str) -> list[str]:
    """The top-level alternatives of a regex source (`a|b(c|d)` -> `a`, `b(c|d)`)."""
    branches, current = [], []
    depth, escaped, in_class = 0, False, False
    for char in source:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            branches.append("".join(current))
            current = []
            continue
        current.append(char)
    branches.append("".join(current))
    return branches


def _any_cue_pattern(*classes: _Patterns) -> re.Pattern[str]:
    """One regex that finds whether a line has any cue at all, which most lines do not.

    Scanning once with an alternation of word-initial branches behind a single look-behind is
    several times faster than running every cue's own `\\b...` search.
    """
    at_word: list[str] = []
    elsewhere: list[str] = []
    for patterns in classes:
        for pattern, _ in patterns:
            for branch in _branches(pattern.pattern):
                if branch.startswith(r"\b"):
                    at_word.append(f"(?:{branch[2:]})")
                else:
                    elsewhere.append(f"(?:{branch})")
    return re.compile("|".join([rf"(?<!\w)(?:{'|'.join(at_word)})", *elsewhere]))


_ANY_CUE = _any_cue_pattern(_CONSENT, _PAYWALL, _LEGAL)


@lru_cache(maxsize=8192)
def _line_scores(line: str) -> tuple[tuple[int, bool], ...]:
    """(score, has strong cue) of the line for consent, paywall and legal cues, in that order.

    Score is the sum of the weights of the distinct cues found. Lines too long to ever be
    furniture are not scanned at all.
    """
    low = line.lower()
    if _words(line) > _MAX_FURNITURE_WORDS or not _ANY_CUE.search(low):
        return ((0, False),) * 3
    scores = []
    for patterns in (_CONSENT, _PAYWALL, _LEGAL):
        total, strong = 0, False
        for pattern, weight in patterns:
            if pattern.search(low):
                total += weight
                strong = strong or weight > 1
        scores.append((total, strong))
    return tuple(scores)


def _dominated(line: str, classes: Sequence[int]) -> bool:
    per_class = _line_scores(line)
    score = sum(per_class[c][0] for c in classes)
    strong = any(per_class[c][1] for c in classes)
    words = _words(line)
    if words > _MAX_FURNITURE_WORDS:
        return False
    if strong:
        return score >= 2 and score * _WORDS_PER_CUE >= words
    # Weak words alone ("cookies", "subscribers", "accept") are ordinary prose even when
    # several meet in one sentence; only a list of them is furniture (`Newsletter · Privacy ·
    # Cookies`).
    return score >= 3 and score * _WORDS_PER_WEAK_CUE >= words


_CONSENT_CLASS, _PAYWALL_CLASS, _LEGAL_CLASS = 0, 1, 2


def _is_consent(line: str) -> bool:
    return _dominated(line, (_CONSENT_CLASS,))


def _is_paywall(line: str) -> bool:
    return _dominated(line, (_PAYWALL_CLASS,))


def _is_legal(line: str) -> bool:
    return _dominated(line, (_LEGAL_CLASS,))


def _is_mixed(line: str) -> bool:
    return _dominated(line, (_CONSENT_CLASS, _PAYWALL_CLASS, _LEGAL_CLASS))


def _is_comment(line: str) -> bool:
    if _COMMENT_PHRASE.match(line):
        return True
    return line.endswith(":") and _words(line) <= 6 and bool(_COMMENT_WORDS.search(line))


def _is_widget(line: str) -> bool:
    if len(line) > _MAX_LABEL_CHARS:
        return False
    tokens = _WORD.findall(line.casefold())
    if not tokens or len(tokens) > 12:
        return False
    if not any(t in _UI_CORE for t in tokens):
        return False
    return all(t in _UI_CORE or t in _UI_FILLER or t.isdigit() for t in tokens)


def _is_navigation(line: str) -> bool:
    """Short links separated by bars or bullets: `Home | About | Subscribe`."""
    if len(line) > _MAX_LABEL_CHARS * 2 or line.lstrip().startswith("|"):
        return False
    items = [item for item in _NAV_SPLIT.split(line.strip()) if item]
    return len(items) >= _NAV_MIN_ITEMS and len(_NAV_SPLIT.findall(line)) >= _NAV_MIN_ITEMS - 1 and all(
        0 < _words(item) <= _NAV_ITEM_WORDS and not _SENTENCE_END.search(item) for item in items)


def _is_weak_furniture(line: str) -> bool:
    """Looks like furniture, but not enough to be removed on its own (see `BLOCK_RULE`): a
    short fragment, not a sentence, with a furniture cue or mostly UI words (`Learn more`,
    `Einstellungen`, `Plus d'informations`)."""
    words = _words(line)
    if words == 0:
        return True
    # Buttons and links do not end in a full stop; an article's closing sentence does, and it
    # must survive even when it mentions subscribers or cookies right above a footer.
    if words > _MAX_WEAK_WORDS or (words > 3 and _SENTENCE_END.search(line)):
        return False
    if any(score for score, _ in _line_scores(line)):
        return True
    tokens = _WORD.findall(line.casefold())
    return sum(t in _UI_CORE for t in tokens) * 2 >= len(tokens)


def is_standalone_furniture(line: str) -> bool:
    """Furniture judged from the line alone, without the rest of the document."""
    return any(
        check(line)
        for check in (_is_consent, _is_paywall, _is_legal, _is_mixed, _is_comment, _is_widget, _is_navigation)
    ) or _words(line) == 0


# ---------------------------------------------------------------------------------------------
# Rules


@dataclass
class _Context:
    """The paragraphs of one document and what the document-level rules need to know of them."""

    lines: list[str]
    title: str | None = None
    site_names: frozenset[str] = frozenset()
    counts: Counter[str] = field(default_factory=Counter)
    first_seen: dict[str, int] = field(default_factory=dict)
    legal_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, line in enumerate(self.lines):
            key = line.casefold()
            self.counts[key] += 1
            self.first_seen.setdefault(key, i)
        self.legal_lines = [line.casefold() for line in self.lines if _is_legal(line)]


Rule = Callable[[int, _Context], bool]


def _rule_no_words(i: int, ctx: _Context) -> bool:
    """Lines without a single letter or digit: separators such as `* * *`, `|`, `—`."""
    return _words(ctx.lines[i]) == 0


def _rule_title_repeat(i: int, ctx: _Context) -> bool:
    """The headline repeated as the first lines of the body (HTML extractors keep the <h1>)."""
    return (
        ctx.title is not None
        and i < 3
        and ctx.lines[i].casefold() == normalize_text(ctx.title).casefold()
    )


def _rule_dateline(i: int, ctx: _Context) -> bool:
    """A dateline among the first lines (`Updated Oct. 3, 2022, 10:15 a.m. ET`): the loader keeps
    its date as the document's `date`, so the line itself only adds noise to passages."""
    return i < _DATELINE_LINES and is_dateline(ctx.lines[i])


def _rule_credit(i: int, ctx: _Context) -> bool:
    """Credit lines: `Contributing: A. Writer`, `Reporting by X; Editing by Y`, `(Image credit:
    X/Agency)`, `Photo: X`, or a bare `Name Name/Agency` with no sentence in it."""
    line = ctx.lines[i]
    return _words(line) <= _MAX_CREDIT_WORDS and bool(_CREDIT.search(line))


def _rule_byline(i: int, ctx: _Context) -> bool:
    """`By Jane Doe` / `By Jane Doe and John Roe, Staff Writers`: a short line that starts with
    `By` and a capitalised name and does not read as a sentence (no closing full stop)."""
    line = ctx.lines[i]
    return (
        _words(line) <= _MAX_BYLINE_WORDS
        and bool(_BYLINE.match(line))
        and not _SENTENCE_END.search(line)
    )


def _rule_contact(i: int, ctx: _Context) -> bool:
    """An author's contact line or bio tail: `... You can reach her at x@example.com` or `Follow
    him on X @handle`: it must both ask to reach or follow someone and give an address or
    handle."""
    line = ctx.lines[i]
    return (
        _words(line) <= _MAX_CONTACT_WORDS
        and bool(_CONTACT.search(line))
        and bool(_EMAIL_OR_HANDLE.search(line))
    )


def _rule_related(i: int, ctx: _Context) -> bool:
    """A link to another story: `Related: <headline>`, `Read more: <headline>`."""
    line = ctx.lines[i]
    return _words(line) <= _MAX_CREDIT_WORDS and bool(_RELATED.search(line))


def _rule_newsletter(i: int, ctx: _Context) -> bool:
    """A newsletter sign-up pitch (`Sign up for our free newsletter ...`), also the one that ends
    an author's bio; an article sentence about a newsletter is longer than this or says more."""
    line = ctx.lines[i]
    return _words(line) <= _MAX_NEWSLETTER_WORDS and bool(_NEWSLETTER.search(line))


def _rule_consent(i: int, ctx: _Context) -> bool:
    """Cookie / consent / tracking / GDPR banners, in en, fr, de, es, it, pt, nl, ru/uk, vi."""
    return _is_consent(ctx.lines[i])


def _rule_paywall(i: int, ctx: _Context) -> bool:
    """Subscription, paywall, sign-in, registration and newsletter prompts."""
    return _is_paywall(ctx.lines[i])


def _rule_legal(i: int, ctx: _Context) -> bool:
    """Copyright, all-rights-reserved, terms-of-use and privacy-policy lines."""
    return _is_legal(ctx.lines[i])


def _rule_mixed(i: int, ctx: _Context) -> bool:
    """Short lines whose cues come from several of the classes above
    (`Newsletter · Privacy · Cookies`)."""
    return _is_mixed(ctx.lines[i])


def _rule_comment(i: int, ctx: _Context) -> bool:
    """Comment prompts: `Leave a reply`, `N comments`, or a short line ending in ':' that names
    replies, comments or opinions (`ваша думка про статтю:`, `Votre avis :`)."""
    return _is_comment(ctx.lines[i])


def _rule_widget(i: int, ctx: _Context) -> bool:
    """Short lines made only of UI words: share/print/translate/scroll-to-top widgets, ad slots
    (`Print Friendly, PDF & Email`, `Translate / Dịch`, `Share this article: Facebook Twitter`)."""
    return _is_widget(ctx.lines[i])


def _rule_navigation(i: int, ctx: _Context) -> bool:
    """A line of short links separated by bars or bullets (`Home | About | Subscribe`): the site's
    navigation, kept by HTML extractors when it sits inside the article's container. Only at the
    head or foot of the page: further in, such a line is the article's own list of jump links."""
    at_edge = i < _NAV_EDGE_LINES or i >= len(ctx.lines) - _NAV_EDGE_LINES
    return at_edge and _is_navigation(ctx.lines[i])


def _rule_site_name(i: int, ctx: _Context) -> bool:
    """The publisher's name alone on a line: a known site name, or a short label that the page's
    own copyright notice names (`The New York Sun` beside `© 2024 The New York Sun Company`)."""
    line = ctx.lines[i]
    # The length cap also keeps a pathological line (megabytes without a space: one "word")
    # from being compiled into a pattern below.
    if _words(line) > 6 or len(line) > _MAX_LABEL_CHARS or _CLOSED.search(line):
        return False
    key = line.casefold()
    if key in ctx.site_names:
        return True
    phrase = re.compile(r"(?<!\w)" + re.escape(key) + r"(?!\w)")
    return any(legal != key and phrase.search(legal) for legal in ctx.legal_lines)


def _rule_repeated_label(i: int, ctx: _Context) -> bool:
    """A short label-like line (no closing punctuation) that occurs more than once in the same
    document: site names, `Advertisement`, section labels. Every occurrence goes."""
    line = ctx.lines[i]
    return ctx.counts[line.casefold()] >= 2 and _words(line) <= 8 and not _CLOSED.search(line)


def _rule_duplicate_paragraph(i: int, ctx: _Context) -> bool:
    """A later verbatim copy of an earlier paragraph; the first copy stays."""
    key = ctx.lines[i].casefold()
    return ctx.first_seen[key] < i


# Applied in order to every paragraph; the first rule that matches removes it.
RULES: tuple[tuple[str, Rule], ...] = (
    ("no_words", _rule_no_words),
    ("title_repeat", _rule_title_repeat),
    ("dateline", _rule_dateline),
    ("consent_banner", _rule_consent),
    ("paywall_prompt", _rule_paywall),
    ("legal_notice", _rule_legal),
    ("mixed_furniture", _rule_mixed),
    ("comment_prompt", _rule_comment),
    ("ui_widget", _rule_widget),
    ("navigation", _rule_navigation),
    ("credit_line", _rule_credit),
    ("byline", _rule_byline),
    ("author_contact", _rule_contact),
    ("related_link", _rule_related),
    ("newsletter_pitch", _rule_newsletter),
    ("site_name", _rule_site_name),
    ("repeated_label", _rule_repeated_label),
    ("duplicate_paragraph", _rule_duplicate_paragraph),
)

# After the line rules: a block at the head or tail of the page made of removed lines and lines
# that only look like furniture (one weak cue on a short line, `Plus d'informations`, `Learn
# more`) is furniture as a whole, provided a rule above removed at least one line of it. The
# block stops at the first line that looks like article text.
BLOCK_RULE = "furniture_block"

# Removals that say nothing about the page chrome around them, so they do not start a block.
_NOT_FURNITURE_EVIDENCE = frozenset({"title_repeat", "duplicate_paragraph"})


def _sweep_edges(lines: list[str], removed: dict[int, str]) -> None:
    n = len(lines)
    for order in (range(n - 1, -1, -1), range(n)):
        weak: list[int] = []
        evidence = False
        for i in order:
            if i in removed:
                evidence = evidence or removed[i] not in _NOT_FURNITURE_EVIDENCE
            elif _is_weak_furniture(lines[i]):
                weak.append(i)
            else:
                break
        if evidence:
            for i in weak:
                removed[i] = BLOCK_RULE


def clean_with_report(
    raw: str, *, title: str | None = None, site_names: Iterable[str] = ()
) -> tuple[str, list[tuple[str, str]]]:
    """Clean an article body and say what was removed.

    Returns the cleaned text (paragraphs separated by one blank line) and, in document order,
    a `(rule name, removed line)` pair for every line that a rule in `RULES` or `BLOCK_RULE`
    dropped. `title` lets a repeated headline at the top be dropped; `site_names` are publisher
    names known from metadata, dropped when they stand alone on a line.
    """
    lines = [line for line in normalize_text(raw).split("\n") if line]
    ctx = _Context(
        lines=lines,
        title=title,
        site_names=frozenset(normalize_text(s).casefold() for s in site_names if s and s.strip()),
    )
    removed: dict[int, str] = {}
    for i in range(len(lines)):
        for name, rule in RULES:
            if rule(i, ctx):
                removed[i] = name
                break
    _sweep_edges(lines, removed)
    kept = [line for i, line in enumerate(lines) if i not in removed]
    report = [(removed[i], lines[i]) for i in sorted(removed)]
    return "\n\n".join(kept), report


def clean_text(raw: str, *, title: str | None = None, site_names: Iterable[str] = ()) -> str:
    """The cleaned body of an article: furniture removed, whitespace normalised, one blank line
    between paragraphs. See `clean_with_report` for the arguments."""
    return clean_with_report(raw, title=title, site_names=site_names)[0]

