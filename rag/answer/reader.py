"""The LLM as a reader: it reads the numbered passages and names the short answer and the passage
that states it; the answer shown is that passage's own sentence, quoted verbatim, with the short
answer marked.

Why a reader and not a writer: measured on real news (benchmarks/RESULTS-llm.md), 0.5-1.5B models
asked to write cited sentences under a grammar almost never got a verified sentence through (they
copied the prompt's example, wrote past their own full stop, echoed markup), yet the same 1.5B model
asked for a short answer and a passage number was right about as often as the extractive answerer,
and right on other questions. So the model's whole job here is to read: it replies on one line with
the shortest answer followed by `[n]`, or NOT FOUND. The reply is then *located*: the sentence of
passage n (else of another passage) that holds the short answer. That sentence is what the user
reads, cited `[n]`, with the short answer marked `**...**`, so every sentence shown is a passage
sentence and its citation is right by construction; a short answer that no passage sentence holds is
not shown (the caller falls back to the extractive answer and says so).

The prompt holds no sentence a model could copy as its answer (the format is described, not shown),
and each passage is shown whole when the prompt budget allows, else as windows around its best
sentences (`passage_windows`), narrowed step by step. The budget is the generator's own
(`prompt_budget`), set from the model's size, the device and the cores, not one number for all. The
system prompt comes first and is the same for every question, so llama.cpp keeps its KV cache
from one question to the next in a process (`rag chat`, `rag eval`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rag.answer import prompts
from rag.answer.citations import CitationCheck, check_citations, content_words
from rag.answer.extractive import ScoredSentence, Sentence, sentences_of
from rag.errors import ModelError
from rag.types import Hit

if TYPE_CHECKING:  # pragma: no cover
    from rag.answer.generation import Generator

NOT_FOUND_REPLY = "NOT FOUND"
READ_MAX_TOKENS = 40  # a short answer and its [n]; a reply that runs on is cut here, never shown as it is
DEFAULT_BUDGET = 900  # prompt tokens, for a generator that does not say its own budget
SHAPES: tuple[tuple[int, int] | None, ...] = (None, (3, 1), (2, 1), (2, 0), (1, 0))
"""How each passage is shown, widest first: whole, then its best 3 sentences with one neighbour on
each side, ..., its single best sentence."""

_CITE = re.compile(r"[\[(]\s*(?:passage\s*)?(\d{1,2})\s*[\])]", re.IGNORECASE)
_LEAD = re.compile(r"^(?:the\s+)?(?:short\s+)?answer\s*(?:is)?\s*[:\-–]\s*", re.IGNORECASE)


def _words(text: str) -> str:
    """Lower-case words separated by single spaces: how a short answer is matched to a sentence."""
    return " ".join(re.findall(r"\w+", text.lower()))


@dataclass(frozen=True)
class Reading:
    """What the model replied, parsed: the short answer and the passage it names, or not found."""

    raw: str
    short: str | None  # None when the model found nothing (NOT FOUND, or nothing usable)
    passage: int | None  # 1-based number of the passage the model names, when it names one in range


@dataclass(frozen=True)
class Located:
    """Where a short answer stands in the passages: the sentence, and the answer's span inside it."""

    sentence: Sentence
    span: tuple[int, int] | None  # character span of the short answer in sentence.text, when found as written


def parse_reading(raw: str, n_passages: int) -> Reading:
    """The short answer and passage number from a reply such as "Eton College [2]"; only its first
    line counts. NOT FOUND, an empty reply or one that is only a marker is a reading of nothing."""
    line = next((ln.strip() for ln in raw.strip().splitlines() if ln.strip()), "")
    if not line or line.upper().startswith(NOT_FOUND_REPLY):
        return Reading(raw=raw, short=None, passage=None)
    numbers = [int(m.group(1)) for m in _CITE.finditer(line)]
    passage = next((n for n in numbers if 1 <= n <= n_passages), None)
    short = _CITE.sub(" ", line)
    short = _LEAD.sub("", short.strip())
    short = short.strip().strip("\"'“”‘’*`").strip().rstrip(".,;:").strip()
    if not _words(short) or short.upper().startswith(NOT_FOUND_REPLY):
        return Reading(raw=raw, short=None, passage=None)
    return Reading(raw=raw, short=short, passage=passage)


def locate(reading: Reading, hits: Sequence[Hit], question: str,
           scored: Sequence[ScoredSentence] = ()) -> Located | None:
    """The passage sentence that states the reading's short answer: one of the passage the model
    named, else of any passage, preferring (in that order) the short answer written as it stands,
    then all its words present (only in the passage the model named: a reply such as "Vietnam
    President Vladimir Putin" that only mixes the question's words would match many sentences);
    among equals the sentence the extractive scorer ranked higher.
    Only a sentence that shares a word with the question can answer it: a passage's order to the
    model ("reply with X") states X, but says nothing about what was asked. A short answer made only
    of the question's own words answers nothing. None when no sentence of the passages holds it."""
    if reading.short is None:
        return None
    asked = set(content_words(question))
    words = set(content_words(reading.short))
    if words <= asked:
        return None  # "Vietnam" for "Which country did Putin visit before Vietnam?" restates the question
    want = _words(reading.short)
    rank = {(x.hit, x.start): r for r, x in enumerate(scored)}
    best: tuple[tuple[int, int, int], Located] | None = None
    for s in sentences_of(hits):
        exact = re.search(rf"(?:^| ){re.escape(want)}(?= |$)", _words(s.text)) is not None
        loose = (not exact and s.hit + 1 == reading.passage and bool(words)
                 and words <= set(content_words(s.text)))
        if not (exact or loose) or not asked & set(content_words(s.text)):
            continue
        key = (0 if s.hit + 1 == reading.passage else 1, 0 if exact else 1, rank.get((s.hit, s.start), len(rank)))
        if best is None or key < best[0]:
            best = (key, Located(sentence=s, span=_span(s.text, reading.short)))
    return None if best is None else best[1]


def _span(sentence: str, short: str) -> tuple[int, int] | None:
    """The short answer's characters in the sentence, matched word by word, ignoring case and up to
    three characters of punctuation or space between words ("St. Louis" matches "St Louis")."""
    tokens = re.findall(r"\w+", short)
    if not tokens:
        return None
    pattern = r"\b" + r"\W{0,3}".join(re.escape(t) for t in tokens) + r"\b"
    m = re.search(pattern, sentence, flags=re.IGNORECASE)
    return (m.start(), m.end()) if m else None


def quoted_answer(located: Located, hits: Sequence[Hit]) -> CitationCheck:
    """The answer the user reads: the located sentence, verbatim, the short answer marked, with its
    passage's `[n]`; checked by the same citation check every answer gets."""
    s = located.sentence
    text = s.text
    if located.span is not None:
        a, b = located.span
        text = f"{text[:a]}**{text[a:b]}**{text[b:]}"
    return check_citations(f"{text} [{s.hit + 1}]", hits, embedder=None)


# --- the prompt ---------------------------------------------------------------------------------


def passage_windows(hits: Sequence[Hit], scored: Sequence[ScoredSentence], *, top: int = 2,
                    window: int = 1) -> list[list[str]]:
    """For each hit, the sentences the model is shown: its `top` best-scoring sentences with
    `window` neighbours on each side, in document order; runs that are not adjacent are separated
    by "…". A hit none of whose sentences was scored is shown whole."""
    by_hit: dict[int, list[Sentence]] = {}
    for sent in sentences_of(hits):
        by_hit.setdefault(sent.hit, []).append(sent)
    rank = {(x.hit, x.start): r for r, x in enumerate(scored)}
    out: list[list[str]] = []
    for i, h in enumerate(hits):
        sents = by_hit.get(i, [])
        if not sents:
            out.append([h.text])
            continue
        best = sorted(range(len(sents)), key=lambda j: rank.get((i, sents[j].start), len(rank)))[:top]
        keep = sorted({k for j in best for k in range(j - window, j + window + 1) if 0 <= k < len(sents)})
        parts: list[str] = []
        for a, b in zip([None, *keep], keep):
            if a is not None and b != a + 1:
                parts.append("…")
            parts.append(sents[b].text.strip())
        out.append(parts)
    return out


def reader_prompt(question: str, hits: Sequence[Hit], generator: "Generator", scored: Sequence[ScoredSentence],
                  *, as_of: str, budget: int) -> tuple[str, int, int]:
    """The exact prompt, how many passages it shows, and its token count. Passages are shown whole
    when the prompt fits `budget` tokens, else narrowed (SHAPES) until it does; the weakest passages
    are dropped only when even the narrowest shape does not fit the model's context."""
    system = prompts.render("reader_system")
    limit = generator.context_limit()

    def render(n: int, shape: tuple[int, int] | None) -> tuple[str, int]:
        if shape is None:
            texts = [h.text for h in hits[:n]]
        else:
            texts = [" ".join(p) for p in passage_windows(hits[:n], scored, top=shape[0], window=shape[1])]
        passages = "\n\n".join(
            prompts.render("reader_passage", n=i + 1, date=f"{h.date} · " if h.date else "",
                           title=prompts.fence(h.title), text=prompts.fence(t))
            for i, (h, t) in enumerate(zip(hits[:n], texts)))
        user = prompts.render("reader_user", passages=passages or "(no passages)", as_of=as_of, question=question)
        prompt = generator.render_chat(system, user)
        return prompt, generator.count_tokens(prompt)

    return fit_prompt(render, len(hits), SHAPES, budget=budget, reserve=READ_MAX_TOKENS, limit=limit)


def fit_prompt(render: Callable[[int, Any], tuple[str, int]], n: int, shapes: Sequence[Any], *, budget: int,
               reserve: int, limit: int) -> tuple[str, int, int]:
    """The first of `shapes` (how passages are shown, widest first) whose prompt of `n` passages
    fits `budget` tokens (else the last), then fewer passages only while prompt + `reserve` answer
    tokens overflow the model's context `limit`. `render(n, shape)` gives a prompt and its tokens."""
    shape = shapes[0]
    prompt, tokens = render(n, shape)
    for shape in shapes[1:]:
        if tokens <= budget:
            break
        prompt, tokens = render(n, shape)
    while tokens + reserve > limit and n > 0:
        n -= 1
        prompt, tokens = render(n, shape)
    if tokens + reserve > limit:
        raise ModelError(f"the question alone needs {tokens} tokens; the model's context holds {limit}")
    return prompt, n, tokens
