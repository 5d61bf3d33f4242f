"""Chunking: exact spans, the embedder's limit, headings, nothing lost."""

from __future__ import annotations

import re

import pytest

from rag.index.chunking import ChunkingParams, chunk_document, find_headings, passage_text, split_sentences
from rag.ingest import load_documents
from rag.types import Document
from tests.conftest import SEEDS


def _words(texts):
    return [len(t.split()) for t in texts]


def _doc(text: str, title: str = "A title") -> Document:
    return Document(id="d.txt", title=title, text=text, source="/x/d.txt", sha256="0")


def test_split_sentences_handles_abbreviations_initials_and_decimals():
    text = ("Mr. Putin met U.S. officials. Trade stood at US$3.6 billion in 2023. "
            "“It will be a friendly visit.” Then he left! Was it Joe B. Smith? Yes.")
    got = [text[s.start:s.end] for s in split_sentences(text)]
    assert got == ["Mr. Putin met U.S. officials.", "Trade stood at US$3.6 billion in 2023.",
                   "“It will be a friendly visit.”", "Then he left!", "Was it Joe B. Smith?", "Yes."]


def test_headings_are_found_and_travel_with_their_chunks():
    body = ("First paragraph of the story, with a few words in it.\n\nWhy Vietnam?\n\n"
            + " ".join(f"Sentence number {i} about Vietnam and Russia." for i in range(40))
            + "\n\nRisks for Hanoi\n\nA paragraph about risks that is long enough to follow a heading.")
    doc = _doc(body)
    assert [body[h.start:h.end] for h in find_headings(body)] == ["Why Vietnam?", "Risks for Hanoi"]
    chunks = chunk_document(doc, _words, ChunkingParams(max_tokens=60, target_tokens=40))
    under = [c for c in chunks if "Sentence number" in c.text]
    assert len(under) > 1 and all(c.heading == "Why Vietnam?" for c in under)
    assert chunks[-1].heading == "Risks for Hanoi" and chunks[-1].text.startswith("Risks for Hanoi")
    assert chunks[0].heading is None


def test_spans_are_exact_and_every_sentence_reaches_a_chunk_on_the_seeds(minilm):
    loaded = load_documents([SEEDS])
    assert len(loaded.documents) == 5
    for doc in loaded.documents:
        chunks = chunk_document(doc, minilm.count_tokens)
        assert chunks, doc.id
        for c in chunks:
            assert doc.text[c.start:c.end] == c.text
            assert c.id == f"{doc.id}#{c.n}"
            # Nothing is cut off by the embedder: title + heading + text fit its 256 word pieces.
            assert minilm.count_tokens([passage_text(doc.title, c.heading, c.text)])[0] + 2 <= 256
        covered = [False] * len(doc.text)
        for c in chunks:
            covered[c.start:c.end] = [True] * (c.end - c.start)
        for m in re.finditer(r"\S+", doc.text):
            assert all(covered[m.start():m.end()]), f"{doc.id}: {m.group(0)!r} is in no chunk"


def test_overlap_repeats_one_sentence_between_neighbours():
    body = " ".join(f"This is sentence {i} of the article." for i in range(30))
    chunks = chunk_document(_doc(body), _words, ChunkingParams(max_tokens=80, target_tokens=30, overlap=1))
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "neighbours share a sentence"
        assert b.end > a.end, "every chunk adds something new"


def test_a_sentence_longer_than_the_limit_is_split_not_truncated():
    long_sentence = " ".join(["word"] * 500) + "."
    doc = _doc(long_sentence)
    chunks = chunk_document(doc, _words, ChunkingParams(max_tokens=100, target_tokens=60))
    assert len(chunks) >= 5
    assert all(_words([passage_text(doc.title, c.heading, c.text)])[0] + 2 <= 100 for c in chunks)
    assert sum(len(c.text.split()) for c in chunks) >= 500


def test_title_that_leaves_no_room_is_an_error():
    with pytest.raises(ValueError):
        chunk_document(_doc("Some text here.", title=" ".join(["t"] * 300)), _words)
