"""Answer without an LLM: pick the sentences of the retrieved passages that best answer the question.

Each sentence is scored by three signals:
- meaning: embedding cosine between the sentence (with its section heading) and the question;
- words: the IDF-weighted share of the question's content words that the sentence contains
  (IDF from the index, so rare names and numbers count most);
- answer type: whether the sentence holds something of the kind the question asks for (a date
  for "when", an amount for "how much", a name for "who"/"which") that the question does not
  already contain.
The best sentence's score is also the answerability signal: under ABSTAIN_THRESHOLD the bot says
the articles don't say, in either mode, before any LLM is called (see README for calibration).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from .chunking import split_sentences
from .citations import content_words
from .embedding import Embedder
from .store import STOPWORDS
from .types import Citation, Hit

# Calibrated on seeds/questions.jsonl (README, "Abstention"): lowest best-sentence score of an
# answerable question 0.921, highest of an unanswerable one 0.584; the threshold sits between.
ABSTAIN_THRESHOLD = 0.75
W_DENSE, W_WORDS, W_TYPE, W_NEAR = 0.65, 0.55, 0.3, 0.3
SECOND_SENTENCE_RATIO = 0.95

_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = re.compile(rf"\b(?:1[89]\d\d|20\d\d)\b|\b{_MONTHS}\b|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b")
_AMOUNT = re.compile(r"(?:US)?\$\s?\d|\b\d[\d,.]*\s*(?:billion|million|trillion|thousand|per ?cent|%)|\b\d[\d,.]*\b")
_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:[A-Z][\w’'-]+|of|the|de|van|bin))*")


@dataclass(frozen=True)
class ScoredSentence:
    text: str
    hit: int  # index into the hits
    start: int  # absolute span in the document
    end: int
    score: float
    dense: float
    words: float
    type_match: float
    near: float


def answer_type(question: str) -> str | None:
    q = question.lower().strip()
    if re.match(r"(when|what year|which year|in which year|in what year|what date|on what date)\b", q) \
            or re.search(r"\b(what|which) (year|month|date|day)\b", q):
        return "date"
    if re.search(r"\bhow (much|many|large|big|long|far|old)\b|\b(value|amount|cost|price|worth|figure|number|percentage)\b", q):
        return "amount"
    if re.match(r"(who|whom|whose)\b", q) or re.search(r"\b(which|what) (\w+ ){0,3}(professor|president|leader|minister|"
                                                       r"person|official|expert|analyst|spokes\w+|general|secretary)\b", q):
        return "name"
    if re.search(r"\b(which|what) (\w+ ){0,2}(country|city|countries|ministry|survey|company|organization|"
                 r"organisation|institute|agency|joint venture|name|party|group|venture)\b", q):
        return "name"
    return None


def _has_type(sentence: str, kind: str | None, question: str) -> float:
    """1 when the sentence holds a candidate of the asked kind right beside the question's focus
    noun ("the State of Southeast Asia survey" for "which survey"), 0.5 for a candidate elsewhere
    in the sentence, 0 for none. Candidates already in the question do not count."""
    if kind is None:
        return 0.0
    qwords = {w.lower() for w in re.findall(r"\w+", question)}
    if kind == "date":
        found = _DATE.findall(sentence)
    elif kind == "amount":
        found = _AMOUNT.findall(sentence)
    else:
        found = [m.group(0) for m in _NAME.finditer(sentence) if m.start() > 0 or len(m.group(0).split()) > 1]
        found += re.findall(r"[“\"‘]([^”\"’]{3,60})[”\"’]", sentence)  # a coined term: “bamboo diplomacy”
    new = [f for f in found if not {w.lower() for w in re.findall(r"\w+", f)} <= qwords]
    if not new:
        return 0.0
    focus = re.search(r"\b(?:which|what)\s+(?:\w+\s+){0,2}?(\w+)\b", question.lower())
    if kind == "name" and focus:
        noun = re.escape(focus.group(1).rstrip("s"))
        for f in new:
            if re.search(re.escape(f) + r"[”\"’]?\s+" + noun, sentence, re.IGNORECASE):
                return 1.0
    return 0.5


# Words that frame a question rather than name its topic ("what name is given to ...").
QUESTION_FRAME = frozenset("""name named called given refer refers referred phrase term word exact exactly
mention mentioned describe described happen happened kind type say tell told specific specifically known
""".split())


def question_words(question: str) -> list[str]:
    return [w for w in dict.fromkeys(content_words(question)) if w not in QUESTION_FRAME]


def unknown_names(question: str, doc_freq: Callable[[Sequence[str]], dict[str, int]]) -> list[str]:
    """Names and acronyms in the question (capitalised, not the first word) that no passage of
    the whole index contains: the articles cannot answer a question about something they never
    mention."""
    words = re.findall(r"[\w’'-]+", question)
    names = [w.strip("’'-") for i, w in enumerate(words[1:], 1)
             if w[:1].isupper() and w.lower() not in STOPWORDS]
    names = [n for n in names if re.fullmatch(r"\w+", n)]
    df = doc_freq([n.lower() for n in names])
    return [n for n in names if df.get(n.lower(), 1) == 0]


def acronyms(texts: Sequence[str]) -> dict[str, set[str]]:
    """Acronyms defined in the texts, "International Criminal Court (ICC)" -> {icc: words}."""
    found: dict[str, set[str]] = {}
    for text in texts:
        for m in re.finditer(r"((?:[A-Z][\w-]*\s+(?:(?:of|the|for|and)\s+)*){1,7})\(([A-Z]{2,8})\)", text):
            words = m.group(1).split()
            caps = [w for w in words if w[:1].isupper()]
            acro = m.group(2)
            tail = caps[-len(acro):]
            if len(tail) == len(acro) and all(w[0] == a for w, a in zip(tail, acro)):
                found[acro.lower()] = set(content_words(" ".join(tail)))
    return found


def question_acronyms(question: str) -> dict[str, set[str]]:
    """The question's own multi-word names by their initials: "International Criminal Court" -> icc."""
    out = {}
    for m in re.finditer(r"\b[A-Z][\w-]+(?:\s+(?:of\s+|the\s+|for\s+|and\s+)*[A-Z][\w-]+)+", question):
        caps = [w for w in m.group(0).split() if w[:1].isupper()]
        out["".join(w[0] for w in caps).lower()] = set(content_words(" ".join(caps)))
    return out


def sentences_of(hits: Sequence[Hit]) -> list[tuple[str, int, int, int]]:
    """(text, hit index, absolute start, absolute end) for every sentence of every hit."""
    out = []
    for i, h in enumerate(hits):
        for line in re.finditer(r"[^\n]+", h.text):
            for sp in split_sentences(h.text, line.start(), line.end()):
                text = h.text[sp.start:sp.end]
                if len(re.findall(r"\w+", text)) >= 3:
                    out.append((text, i, h.start + sp.start, h.start + sp.end))
    return out


def score_sentences(question: str, hits: Sequence[Hit], embedder: Embedder,
                    idf: Callable[[Sequence[str]], dict[str, float]]) -> list[ScoredSentence]:
    """Every sentence of the hits, best first."""
    sents = sentences_of(hits)
    if not sents:
        return []
    q_words = question_words(question)
    expand = acronyms([h.text for h in hits])
    expand.update(question_acronyms(question))
    weights = idf(q_words) if q_words else {}
    total = sum(weights.get(w, 1.0) for w in q_words) or 1.0
    texts = [question] + [_with_heading(hits[i], t) for t, i, _, _ in sents]
    vecs = embedder.embed(texts)
    dense = vecs[1:] @ vecs[0]
    kind = answer_type(question)
    scored = []
    for (text, i, s, e), d in zip(sents, dense):
        words = set(content_words(text)) | set(content_words(hits[i].heading or ""))
        for w in list(words):
            words |= expand.get(w, set())
        cover = sum(weights.get(w, 1.0) for w in q_words if w in words) / total
        near = proximity(text, q_words, expand)
        typed = _has_type(text, kind, question)
        score = W_DENSE * float(d) + W_WORDS * cover + W_TYPE * typed + W_NEAR * near
        scored.append(ScoredSentence(text=text, hit=i, start=s, end=e, score=score, dense=float(d),
                                     words=cover, type_match=typed, near=near))
    scored.sort(key=lambda x: -x.score)
    return scored


def proximity(text: str, q_words: Sequence[str], expand: dict[str, set[str]]) -> float:
    """How close together the question's words sit in the sentence: matched words divided by the
    shortest window of words holding them all (1 = adjacent)."""
    wanted = set(q_words)
    positions: list[tuple[int, str]] = []
    for pos, w in enumerate(content_words(text)):
        for term in {w} | expand.get(w, set()):
            if term in wanted:
                positions.append((pos, term))
    kinds = {t for _, t in positions}
    if len(kinds) < 2:
        return 0.0
    best = len(text)
    for i in range(len(positions)):
        seen: set[str] = set()
        for j in range(i, len(positions)):
            seen.add(positions[j][1])
            if seen == kinds:
                best = min(best, positions[j][0] - positions[i][0] + 1)
                break
    return min(1.0, len(kinds) / best)


def _with_heading(hit: Hit, text: str) -> str:
    return f"{hit.heading}: {text}" if hit.heading and hit.heading != text else text


def compose(scored: Sequence[ScoredSentence], max_sentences: int = 2) -> list[ScoredSentence]:
    """The best sentence, plus the next best from another passage when it scores nearly as well."""
    if not scored:
        return []
    chosen = [scored[0]]
    for s in scored[1:]:
        if len(chosen) >= max_sentences or s.score < SECOND_SENTENCE_RATIO * scored[0].score:
            break
        if all(s.hit != c.hit for c in chosen) and not _same(s.text, chosen):
            chosen.append(s)
    return chosen


def _same(text: str, chosen: Sequence[ScoredSentence]) -> bool:
    a = set(content_words(text))
    return any(len(a & set(content_words(c.text))) / max(len(a), 1) > 0.7 for c in chosen)


def idf_from_counts(doc_freq: Callable[[Sequence[str]], dict[str, int]], n_docs: int
                    ) -> Callable[[Sequence[str]], dict[str, float]]:
    def idf(words: Sequence[str]) -> dict[str, float]:
        df = doc_freq(words)
        return {w: math.log((n_docs + 1) / (df.get(w, 0) + 0.5)) for w in words}

    return idf



def extractive_answer(scored: Sequence[ScoredSentence], hits: Sequence[Hit]) -> tuple[str, tuple[Citation, ...]]:
    """The answer text (best sentences, each followed by its `[n]`) and its citations. The one
    entry point for answering without an LLM, also used as the LLM path's fallback."""
    chosen = compose(scored)
    text = " ".join(f"{c.text} [{c.hit + 1}]" for c in chosen)
    citations = tuple(
        Citation(n=c.hit + 1, doc_id=hits[c.hit].doc_id, chunk_id=hits[c.hit].chunk_id,
                 title=hits[c.hit].title, quote=c.text, quote_start=c.start, quote_end=c.end,
                 sentence=c.text, support=1.0, supported=True) for c in chosen)
    return text, citations
