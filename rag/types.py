"""Plain frozen data that flows between the modules: documents, chunks, hits, citations, answers.

Everything here is a frozen dataclass so that `--json` output is simply `dataclasses.asdict`
of the same objects the library returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One cleaned article.

    `id` is the path relative to the indexed folder (for a `.jsonl` file, `path#key` where key is
    the record's `id`/`_id` or its 1-based line number). `text` is the cleaned body that chunk
    spans point into; the title is kept apart. `sha256` hashes the cleaned title and text, so two
    files with the same article are recognised as one.
    """

    id: str
    title: str
    text: str
    source: str
    sha256: str
    url: str | None = None
    date: str | None = None
    publisher: str | None = None

    @property
    def metadata(self) -> tuple[str, str, str]:
        """What is known of the document beside its text (url, date, publisher; "" when unknown):
        an index update rewrites an unchanged text whose metadata changed."""
        return (self.url or "", self.date or "", self.publisher or "")


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: `text == document.text[start:end]`, exactly."""

    id: str  # "<doc_id>#<n>"
    doc_id: str
    n: int
    text: str
    start: int
    end: int
    heading: str | None = None


@dataclass(frozen=True)
class Hit:
    """A retrieved passage, best first. `also_in` lists other documents that carry the same passage."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    heading: str | None = None
    dense_score: float | None = None
    lexical_score: float | None = None
    also_in: tuple[str, ...] = ()
    date: str | None = None  # the document's publication date (YYYY-MM-DD) when known


@dataclass(frozen=True)
class Citation:
    """One `[n]` marker in an answer, checked against the passage it names.

    `n` is the number the answer text shows: an answer numbers what it cites from [1], in the order
    it first cites it. `passage` is the number of the cited passage in `Answer.sources` (the list
    of passages the answer was drawn from, in retrieval order, which keeps its own numbers)."""

    n: int
    passage: int
    doc_id: str
    chunk_id: str
    title: str
    quote: str  # the span of the passage that best supports the cited sentence
    quote_start: int  # character offsets of `quote` in the cleaned document
    quote_end: int
    sentence: str  # the answer sentence that carries the marker
    support: float  # 0..1, how well the passage supports the sentence
    supported: bool


@dataclass(frozen=True)
class Source:
    """A passage the answer was drawn from; `n` is its place in `Answer.sources` (1 = best
    retrieved), which a `Citation.passage` names."""

    n: int
    doc_id: str
    chunk_id: str
    title: str
    text: str
    start: int
    end: int
    score: float
    also_in: tuple[str, ...] = ()
    date: str | None = None  # the document's publication date (YYYY-MM-DD) when known


@dataclass(frozen=True)
class LeftOut:
    """A sentence of the model's answer that failed verification and was removed from the answer."""

    sentence: str  # without its markers
    cited: tuple[int, ...]  # the passage numbers it cited (empty: it cited none)
    support: float  # the best support any cited passage gave it, 0..1
    reason: str  # e.g. "no citation", "weak support 0.31", "not in the cited passage: June, 2022"


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str
    citations: tuple[Citation, ...]
    sources: tuple[Source, ...]
    abstained: bool
    mode: str  # "llm" or "extractive"
    device: str  # "cpu", "gpu", "gpu (N layers)", or "none"
    timings: dict[str, float] = field(default_factory=dict)
    standalone_question: str | None = None
    prompt: str | None = None
    model: str | None = None
    invalid_citations: tuple[int, ...] = ()
    unsupported_sentences: tuple[str, ...] = ()
    notice: str | None = None  # about this answer: why it abstained, why it quotes instead of the LLM
    setup_notice: str | None = None  # about the installation (no LLM downloaded, GPU not used), not this answer
    fallback: bool = False  # the LLM's answer could not be verified; the extractive answer is shown instead
    left_out: tuple[LeftOut, ...] = ()  # the LLM's sentences removed because no passage supports them
    model_reply: str | None = None  # what the LLM replied, as it replied (never shown as the answer)
