"""Parse `[n]` citation markers in an answer and check each against the passage it names.

A marker naming no given passage is removed and reported. Every cited sentence is scored
against the sentences of its passage: support = the best of (share of the sentence's content
words found in a passage sentence) and (embedding cosine, when an embedder is given). A sentence
whose support stays under SUPPORT_THRESHOLD is flagged as unsupported, never silently kept.
Support in meaning is not enough: the names, numbers and dates a sentence states (`claim_facts`)
must also appear in the passages it cites (or their titles) — a claim "in June 2022" citing a
passage that says "March 2023" fails. The quote shown to the user is the passage sentence that
supports the claim best.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable, Sequence

from rag.index.chunking import split_sentences
from rag.index.embedding import Embedder
from rag.types import Citation, Hit, LeftOut
from rag.words import STOPWORDS

SUPPORT_THRESHOLD = 0.6  # chosen on RealTime QA dev sentences: benchmarks/RESULTS-llm.md
_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")


@dataclass(frozen=True)
class CitationCheck:
    text: str  # the answer with invalid markers removed
    citations: tuple[Citation, ...]
    invalid: tuple[int, ...]  # marker numbers that named no passage
    unsupported: tuple[str, ...]  # cited sentences their passages do not support
    uncited: tuple[str, ...]  # answer sentences without any marker
    verified: tuple[str, ...] = ()  # the sentences (markers kept) that passed, in order
    left_out: tuple[LeftOut, ...] = ()  # every sentence that failed (unsupported or uncited), with why


_FACT = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_][\w’'-]*")
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$")


def claim_facts(claim: str) -> list[str]:
    """The names, numbers and dates a sentence states: every number, and every capitalised word but
    the sentence's first (which is capitalised anyway) and common words ("The", "In")."""
    out = []
    for i, m in enumerate(_FACT.finditer(claim)):
        w = m.group(0)
        if w[0].isdigit():
            out.append(w.replace(",", ""))
        elif i > 0 and w[0].isupper() and w.lower() not in STOPWORDS and w != "I":
            out.append(_POSSESSIVE.sub("", w))
    return list(dict.fromkeys(out))


def missing_facts(claim: str, evidence: str) -> list[str]:
    """The claim's names and numbers that the evidence does not contain (case-insensitive, whole
    words; "1,000" matches "1000")."""
    have = {_POSSESSIVE.sub("", w).lower() if not w[0].isdigit() else w.replace(",", "")
            for w in _FACT.findall(evidence)}
    return [f for f in claim_facts(claim) if f.lower() not in have]


# Words a finished English sentence does not end on: articles, conjunctions, "of", relative "which".
_DANGLING = frozenset("the a an and or but nor which whose of".split())


def ends_mid_clause(claim: str) -> bool:
    """Whether a sentence stops before its clause does: on a comma, colon, semicolon, dash or open
    bracket, or on a word such as "the", "and", "which", "of" ("It is also noted that under
    circumstances," / "… a cross-border food recall, which")."""
    text = claim.rstrip().rstrip(".!?").rstrip()
    if not text or text[-1] in ",;:([-–—":
        return True
    words = re.findall(r"[\w’']+", text.lower())
    return bool(words) and words[-1] in _DANGLING


def answer_sentences(text: str) -> list[str]:
    out = []
    for line in re.finditer(r"[^\n]+", text):
        for sp in split_sentences(text, line.start(), line.end()):
            s = text[sp.start:sp.end].strip()
            if s:
                out.append(s)
    # A marker after the full stop ("... Hanoi. [2]") belongs to the sentence before it.
    merged: list[str] = []
    for s in out:
        if merged and re.fullmatch(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\]\s*)+[.]?", s):
            merged[-1] = merged[-1] + " " + s
        else:
            merged.append(s)
    # A fragment of markers or punctuation alone is not a sentence.
    return [s for s in merged if re.search(r"\w", _MARKER.sub("", s))]


def markers(sentence: str) -> list[int]:
    return [int(n) for m in _MARKER.finditer(sentence) for n in re.split(r"\s*[,;]\s*", m.group(1))]


def strip_markers(sentence: str) -> str:
    return re.sub(r"\s+([.,;:!?])", r"\1", _MARKER.sub("", sentence)).strip()


def remove_invalid(text: str, n_passages: int) -> tuple[str, list[int]]:
    """Drop numbers outside 1..n_passages from every marker; report them."""
    invalid: list[int] = []

    def fix(m: re.Match[str]) -> str:
        nums = [int(n) for n in re.split(r"\s*[,;]\s*", m.group(1))]
        good = [n for n in nums if 1 <= n <= n_passages]
        invalid.extend(n for n in nums if not 1 <= n <= n_passages)
        return f"[{', '.join(str(n) for n in good)}]" if good else ""

    fixed = _MARKER.sub(fix, text)
    fixed = re.sub(r"[ \t]+([.,;:!?])", r"\1", fixed)
    fixed = re.sub(r"[ \t]{2,}", " ", fixed)
    return fixed, invalid


def content_words(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS]


@lru_cache(maxsize=1)
def _stemmer() -> Callable[[str], str]:
    try:
        import Stemmer  # PyStemmer: Snowball English

        return Stemmer.Stemmer("english").stemWord  # type: ignore[no-any-return]
    except ImportError:  # pragma: no cover - a dependency; keep working without it
        return lambda w: w


def _stem(word: str) -> str:
    """Snowball stem cut to at most 7 characters, so that 'flexible'/'flexibility' and
    'Vietnam'/'Vietnamese' meet."""
    return _stemmer()(word)[:7]


def lexical_support(claim: str, evidence: str) -> float:
    """Share of the claim's content words that the evidence contains."""
    c = set(content_words(claim))
    if not c:
        return 0.0
    return len(c & set(content_words(evidence))) / len(c)


def check_citations(text: str, hits: Sequence[Hit], embedder: Embedder | None = None,
                    threshold: float = SUPPORT_THRESHOLD) -> CitationCheck:
    fixed, invalid = remove_invalid(text, len(hits))
    sentences = answer_sentences(fixed)
    # Passage sentences with their absolute spans in the document.
    passage_sents: list[list[tuple[str, int, int]]] = []
    for h in hits:
        sents = []
        for line in re.finditer(r"[^\n]+", h.text):
            for sp in split_sentences(h.text, line.start(), line.end()):
                sents.append((h.text[sp.start:sp.end], h.start + sp.start, h.start + sp.end))
        passage_sents.append(sents or [(h.text, h.start, h.end)])

    cited = [(s, markers(s)) for s in sentences]
    cos: dict[tuple[int, int], float] = {}
    if embedder is not None:
        claims = [strip_markers(s) for s, ns in cited if ns]
        pairs = [(ci, n) for ci, (_, ns) in enumerate([c for c in cited if c[1]]) for n in dict.fromkeys(ns)]
        if pairs:
            ev_texts = [t for ps in passage_sents for t, _, _ in ps]
            vecs = embedder.embed(claims + ev_texts)
            claim_v, ev_v = vecs[:len(claims)], vecs[len(claims):]
            offsets = [0]
            for ps in passage_sents:
                offsets.append(offsets[-1] + len(ps))
            for ci, n in pairs:
                sims = ev_v[offsets[n - 1]:offsets[n]] @ claim_v[ci]
                for j, v in enumerate(sims):
                    cos[(ci, offsets[n - 1] + j)] = float(v)

    citations: list[Citation] = []
    unsupported: list[str] = []
    uncited: list[str] = []
    verified: list[str] = []
    left_out: list[LeftOut] = []
    claim_i = -1
    for sentence, ns in cited:
        if not ns:
            if strip_markers(sentence):
                uncited.append(sentence)
                left_out.append(LeftOut(sentence=strip_markers(sentence), cited=(), support=0.0, reason="no citation"))
            continue
        claim_i += 1
        claim = strip_markers(sentence)
        sentence_ok = False
        best_support = 0.0
        missing: list[str] = []
        for n in dict.fromkeys(ns):
            hit = hits[n - 1]
            base = sum(len(ps) for ps in passage_sents[:n - 1])
            best, best_j = -1.0, 0
            for j, (ev, _, _) in enumerate(passage_sents[n - 1]):
                score = max(lexical_support(claim, ev), cos.get((claim_i, base + j), 0.0))
                if score > best:
                    best, best_j = score, j
            # A claim may draw on the whole passage (several of its sentences).
            whole = lexical_support(claim, hit.text)
            support = max(best, whole * 0.9)
            quote, qs, qe = passage_sents[n - 1][best_j]
            # The names and numbers it states must be in this passage (or its title) too.
            lacking = missing_facts(claim, f"{hit.title} {hit.text}")
            ok = support >= threshold and not lacking
            if support >= best_support:
                missing = lacking
            best_support = max(best_support, support)
            sentence_ok = sentence_ok or ok
            citations.append(Citation(n=n, passage=n, doc_id=hit.doc_id, chunk_id=hit.chunk_id, title=hit.title,
                                      quote=quote, quote_start=qs, quote_end=qe, sentence=claim,
                                      support=round(support, 3), supported=ok))
        if sentence_ok:
            verified.append(sentence)
        else:
            unsupported.append(claim)
            why = (f"weak support {best_support:.2f} < {threshold}" if best_support < threshold or not missing
                   else f"not in the cited passage: {', '.join(missing)}")
            left_out.append(LeftOut(sentence=claim, cited=tuple(dict.fromkeys(ns)),
                                    support=round(best_support, 3), reason=why))
    return CitationCheck(text=fixed.strip(), citations=tuple(citations), invalid=tuple(invalid),
                         unsupported=tuple(unsupported), uncited=tuple(uncited), verified=tuple(verified),
                         left_out=tuple(left_out))


def number_by_citation(text: str, citations: Sequence[Citation]) -> tuple[str, tuple[Citation, ...]]:
    """The answer's markers renumbered from [1] in the order the text first cites each passage, and
    the citations with those numbers (`Citation.passage` keeps the passage's own number). A reader
    expects a lone source to be [1], not the 6th passage of a list they were not shown."""
    order: dict[int, int] = {}
    for m in _MARKER.finditer(text):
        for p in re.split(r"\s*[,;]\s*", m.group(1)):
            order.setdefault(int(p), len(order) + 1)
    for c in citations:  # a citation whose marker the text no longer shows still gets a number
        order.setdefault(c.passage, len(order) + 1)

    def renumber(m: re.Match[str]) -> str:
        return "[" + ", ".join(str(order[int(p)]) for p in re.split(r"\s*[,;]\s*", m.group(1))) + "]"

    return _MARKER.sub(renumber, text), tuple(replace(c, n=order[c.passage]) for c in citations)
