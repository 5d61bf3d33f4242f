"""Split a cleaned document into sentence-aware passages that fit the embedder.

Pure functions. Every chunk keeps its exact character span in the cleaned text
(`doc.text[chunk.start:chunk.end] == chunk.text`), so a citation can quote it.

- Sentences are found with a rule-based splitter (abbreviations, initials, decimals and
  closing quotes handled); a paragraph break always ends a sentence.
- A section subheading (a short stand-alone paragraph without final punctuation, e.g.
  "Why Vietnam?") starts a new chunk and travels with every chunk under it as `heading`.
- A chunk is filled with whole sentences up to `target_tokens`; consecutive chunks of a section
  share `overlap` sentences. The text the embedder sees (`passage_text`: title, heading, chunk)
  never exceeds `max_tokens`: a sentence too long on its own is cut at word boundaries into
  pieces that fit, so nothing is cut off silently by the embedder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from rag.types import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]

# Words after which a period does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "gen", "col", "lt", "sgt", "capt", "gov",
    "sen", "rep", "pres", "rev", "hon", "vs", "etc", "e.g", "i.e", "no", "nos", "vol", "fig",
    "approx", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "u.n", "d.c", "a.m", "p.m", "al", "cf",
}
# End punctuation, closing quotes, and any citation markers that close the sentence ("....[2] Next").
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’»)\]]*(?:\[\d+(?:\s*[,;]\s*\d+)*\])*(?=\s+)""")
_HEADING_MAX_WORDS = 12
# A tokenizer may count a long run of characters as one unknown token (WordPiece does, past 100
# characters). Chunking counts every text as at least one token per this many characters, so
# that no passage holds megabytes the embedder never saw; ordinary prose (4-6 characters a
# token) is not affected.
_MAX_CHARS_PER_TOKEN = 16


# Bump when the splitting rules change, so that existing indexes are re-chunked rather than kept
# with chunks the current code would not make (the manifest records it with the parameters).
CHUNKER_VERSION = 3


@dataclass(frozen=True)
class ChunkingParams:
    max_tokens: int = 256  # the embedder's limit, special tokens included
    target_tokens: int = 160
    overlap: int = 1  # sentences shared by consecutive chunks of one section
    special_tokens: int = 2  # [CLS] and [SEP]

    def as_dict(self) -> dict[str, int]:
        return {
            "version": CHUNKER_VERSION,
            "max_tokens": self.max_tokens,
            "target_tokens": self.target_tokens,
            "overlap": self.overlap,
            "special_tokens": self.special_tokens,
        }


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def passage_text(title: str, heading: str | None, text: str) -> str:
    """What the embedder reads for a chunk: the article title and section heading give context."""
    parts = [title] if title else []
    if heading and not text.startswith(heading):
        parts.append(heading)
    parts.append(text)
    return "\n".join(parts)


def paragraphs(text: str) -> list[Span]:
    """Spans of the non-empty paragraphs (separated by blank lines), stripped."""
    spans = []
    for m in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]*)*", text):
        s, e = m.start(), m.end()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            spans.append(Span(s, e))
    return spans


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans within text[start:end] (no leading/trailing whitespace in a span)."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    s = start
    for m in _SENTENCE_END.finditer(text, start, end):
        cut = m.end()
        if not _is_boundary(text, s, m.start(), cut, end):
            continue
        spans.append(Span(s, cut))
        s = cut
        while s < end and text[s].isspace():
            s += 1
    if s < end and text[s:end].strip():
        e = end
        while e > s and text[e - 1].isspace():
            e -= 1
        spans.append(Span(s, e))
    return [sp for sp in spans if sp.end > sp.start]


def _is_boundary(text: str, sent_start: int, punct: int, cut: int, end: int) -> bool:
    if text[punct] != ".":
        return _next_starts_sentence(text, cut, end, strict=False)
    token = _last_word(text, sent_start, punct).lower()
    if token in _ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isalpha():  # an initial: "Joe B. Smith"
        return False
    if _DOTTED.fullmatch(token):  # "U.S", "e.g"
        return False
    return _next_starts_sentence(text, cut, end, strict=True)


_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")


def _last_word(text: str, start: int, stop: int) -> str:
    """The run of word characters and periods that ends text[start:stop], seen through emphasis
    marks ("**Jan**" gives "Jan", as in a marked answer); one final newline is passed over.

    A backward scan of a few characters: a regex anchored at the end would try every position of
    the sentence, which made it most of the chunking time of a file of many short sentences."""
    i = stop
    if i > start and text[i - 1] == "\n":
        i -= 1
    while i > start and text[i - 1] == "*":
        i -= 1
    j = i
    while j > start and (text[j - 1].isalnum() or text[j - 1] in "._"):
        j -= 1
    return text[j:i]


def _next_starts_sentence(text: str, cut: int, end: int, strict: bool) -> bool:
    i = cut
    while i < end and text[i].isspace():
        i += 1
    if i >= end:
        return True
    if "\n" in text[cut:i]:
        return True
    ch = text[i]
    if not strict:
        return True
    return ch.isupper() or ch.isdigit() or ch in "\"'“‘«([—–-"


def find_headings(text: str) -> list[Span]:
    """Paragraphs that look like section subheadings: one short line, no final period/colon,
    capitalised, not the last paragraph, and followed by a longer paragraph."""
    paras = paragraphs(text)
    heads = []
    for i, p in enumerate(paras[:-1]):
        line = text[p.start:p.end]
        if "\n" in line or len(line.split()) > _HEADING_MAX_WORDS:
            continue
        if line[-1] in ".:;,!…”\"'" or not (line[0].isupper() or line[0] in "‘'\"“"):
            continue
        nxt = paras[i + 1]
        if (nxt.end - nxt.start) <= len(line):
            continue
        heads.append(p)
    return heads


def chunk_document(
    doc: Document, count_tokens: TokenCounter, params: ChunkingParams = ChunkingParams()
) -> list[Chunk]:
    """Chunks of `doc`, in order, with ids `<doc_id>#<n>`."""
    count_tokens = _at_least_per_chars(count_tokens)
    text = doc.text
    heading_spans = {(h.start, h.end) for h in find_headings(text)}
    # Sections: (heading or None, [sentence spans]); a heading paragraph is its own "sentence".
    sections: list[tuple[str | None, list[Span]]] = [(None, [])]
    for p in paragraphs(text):
        if (p.start, p.end) in heading_spans:
            sections.append((text[p.start:p.end], [p]))
        else:
            # A line break inside a paragraph (a caption above its credit) also ends a sentence.
            for line in re.finditer(r"[^\n]+", text[p.start:p.end]):
                sections[-1][1].extend(split_sentences(text, p.start + line.start(), p.start + line.end()))

    budget_base = params.max_tokens - params.special_tokens
    all_sents = [s for _, sents in sections for s in sents]
    counts = dict(zip(((s.start, s.end) for s in all_sents),
                      count_tokens([text[s.start:s.end] for s in all_sents]))) if all_sents else {}

    chunks: list[Chunk] = []
    for heading, sents in sections:
        if not sents:
            continue
        prefix_tokens = count_tokens([passage_text(doc.title, heading, "")])[0]
        budget = budget_base - prefix_tokens
        if budget < 16:
            raise ValueError(f"title/heading of {doc.id} leave no room for text in {params.max_tokens} tokens")
        pieces: list[tuple[Span, int]] = []
        for s in sents:
            n = counts[(s.start, s.end)]
            if n <= budget:
                pieces.append((s, n))
            else:
                pieces.extend(_split_long(text, s, budget, count_tokens))
        groups = _pack(pieces, min(params.target_tokens, budget), budget, params.overlap)
        # One batched count of every group's real length; only a group over the limit is split.
        joined = count_tokens([passage_text(doc.title, heading, text[g[0].start:g[-1].end]) for g in groups])
        for group, n_joined in zip(groups, joined):
            parts = [group] if n_joined <= budget_base else _fit(group, text, doc.title, heading,
                                                                   budget_base, count_tokens)
            for part in parts:
                n = len(chunks)
                start, end = part[0].start, part[-1].end
                chunks.append(Chunk(id=f"{doc.id}#{n}", doc_id=doc.id, n=n, text=text[start:end],
                                    start=start, end=end, heading=heading))
    return chunks


def _at_least_per_chars(count_tokens: TokenCounter) -> TokenCounter:
    """`count_tokens`, at least one token per `_MAX_CHARS_PER_TOKEN` characters, and each
    distinct text tokenized once (a page that repeats itself costs no more than one copy)."""

    def count(texts: Sequence[str]) -> list[int]:
        distinct = list(dict.fromkeys(texts))
        by_text = dict(zip(distinct, count_tokens(distinct))) if distinct else {}
        return [max(by_text[t], -(-len(t) // _MAX_CHARS_PER_TOKEN)) for t in texts]

    return count


def _fit(group: list[Span], text: str, title: str, heading: str | None, limit: int,
         count_tokens: TokenCounter) -> list[list[Span]]:
    """Sums of per-sentence counts can differ slightly from the count of the joined text;
    check the real count and halve a group that would be cut off (no sentence is dropped)."""
    joined = passage_text(title, heading, text[group[0].start:group[-1].end])
    if len(group) == 1 or count_tokens([joined])[0] <= limit:
        return [group]
    mid = len(group) // 2
    return (_fit(group[:mid], text, title, heading, limit, count_tokens)
            + _fit(group[mid:], text, title, heading, limit, count_tokens))


def _pack(pieces: list[tuple[Span, int]], target: int, budget: int, overlap: int) -> list[list[Span]]:
    """Greedy packing of consecutive pieces into groups of about `target` tokens (never over
    `budget`), each group starting with up to `overlap` pieces of the one before it."""
    groups: list[list[Span]] = []
    new = 0  # first piece not yet in any group
    while new < len(pieces):
        start = max(new - overlap, 0) if groups else new
        while start < new and sum(n for _, n in pieces[start:new + 1]) > budget:
            start += 1
        total = sum(n for _, n in pieces[start:new + 1])
        j = new + 1
        while j < len(pieces) and total + pieces[j][1] <= target:
            total += pieces[j][1]
            j += 1
        groups.append([sp for sp, _ in pieces[start:j]])
        new = j
    return groups


def _split_long(text: str, s: Span, budget: int, count_tokens: TokenCounter) -> list[tuple[Span, int]]:
    """Cut one over-long sentence at word boundaries into pieces of at most `budget` tokens;
    a single word longer than that (a URL, a line of megabytes without a space) is cut inside."""
    words = [m.span() for m in re.finditer(r"\S+", text[s.start:s.end])]
    word_counts = count_tokens([text[s.start + a:s.start + b] for a, b in words])
    units: list[tuple[Span, int]] = []
    for (a, b), n in zip(words, word_counts):
        if n <= budget:
            units.append((Span(s.start + a, s.start + b), n))
        else:
            units.extend(_cut_word(text, Span(s.start + a, s.start + b), n, budget, count_tokens))
    out: list[tuple[Span, int]] = []
    first = 0
    total = 0
    for idx, (_, n) in enumerate(units):
        if total + n > budget and idx > first:
            out.append((Span(units[first][0].start, units[idx - 1][0].end), total))
            first, total = idx, 0
        total += n
    out.append((Span(units[first][0].start, units[-1][0].end), total))
    return out


def _cut_word(text: str, w: Span, n: int, budget: int, count_tokens: TokenCounter) -> list[tuple[Span, int]]:
    """Cut one word of `n` tokens into character pieces of at most `budget` tokens each."""
    # Pieces of about half the budget by the word's average characters per token; any piece
    # that still counts over the budget is halved again.
    step = max(1, (w.end - w.start) * budget // (2 * n))
    spans = [Span(a, min(a + step, w.end)) for a in range(w.start, w.end, step)]
    out: list[tuple[Span, int]] = []
    for sp, m in zip(spans, count_tokens([text[sp.start:sp.end] for sp in spans])):
        if m <= budget or sp.end - sp.start == 1:  # the length is within the cap by `step`
            out.append((sp, m))
        else:
            out.extend(_cut_word(text, sp, m, budget, count_tokens))
    return out
