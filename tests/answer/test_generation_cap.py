"""A sentence the model wrote up to the grammar's length cap was closed wherever the model was
(mid-clause, mid-word): even when its words are in the cited passage, it is left out as unfinished."""

from __future__ import annotations

import re

import pytest

from rag.answer.grammar import SENTENCE_PIECES, citation_regex, ran_to_cap
from rag.answer.pipeline import Hooks, ask
from rag.config import Settings
from rag.retrieval import open_index
from tests.fakes import ScriptedGenerator

Q = "Which Vietnamese president welcomed Putin in Hanoi?"


def _at_cap(words: str) -> str:
    """`words` repeated and cut at exactly the cap, as the grammar leaves a runaway sentence."""
    text = (words + " ") * (SENTENCE_PIECES // len(words) + 2)
    return text[:SENTENCE_PIECES]


def test_ran_to_cap_counts_pieces_as_the_grammar_does() -> None:
    assert not ran_to_cap("To Lam welcomed Putin in Hanoi on Thursday.")
    cut = _at_cap("To Lam welcomed Putin in Hanoi on Thursday and pledged to strengthen ties")
    assert re.fullmatch(citation_regex(3), f"{cut} [1].") is not None, "the grammar allows it"
    assert ran_to_cap(cut + ".")
    # "." followed by a character is one piece with it: a text with dots is longer in characters.
    dotted = _at_cap("U.S.-made")
    assert not ran_to_cap(dotted[:60] + ".") and ran_to_cap(dotted + "x" * dotted.count(".") + ".")


@pytest.fixture(scope="module")
def index(seed_index, minilm):
    idx = open_index(seed_index, embedder=minilm)
    yield idx
    idx.close()


def test_a_sentence_cut_at_the_cap_is_left_out_even_when_supported(index) -> None:
    hits = index.search(Q, k=5)
    n = next(i for i, h in enumerate(hits, 1) if "To Lam" in h.text)
    whole = f"Vietnamese President To Lam welcomed Putin in Hanoi [{n}]."
    cut = _at_cap("Vietnamese President To Lam welcomed Putin in Hanoi on Thursday and pledged to further "
                  "strengthen ties, which he said would improve peace")
    a = ask(Q, Settings.from_env(mode="llm", style="free"), index=index, hooks=Hooks(generator=ScriptedGenerator([f"{cut} [{n}]."])))
    assert a.fallback and any(lo.reason == "cut off at the sentence length limit" for lo in a.left_out)
    assert cut.strip() not in a.answer
    b = ask(Q, Settings.from_env(mode="llm", style="free"), index=index, hooks=Hooks(generator=ScriptedGenerator([f"{whole} {cut} [{n}]."])))
    assert not b.fallback and "To Lam welcomed Putin in Hanoi" in b.answer and cut.strip() not in b.answer
    # With style "copy" the sentences are the passage's own: no cap applies.
    c = ask(Q, Settings.from_env(mode="llm", style="copy"), index=index, hooks=Hooks(generator=ScriptedGenerator([whole])))
    assert not any(lo.reason.startswith("cut off") for lo in c.left_out)


def test_ends_mid_clause() -> None:
    from rag.answer.citations import ends_mid_clause

    for unfinished in ("It is also noted that under circumstances,.", "The lawsuit is about a food recall, which.",
                       "The crash occurred near the.", "He said:"):
        assert ends_mid_clause(unfinished), unfinished
    for finished in ("To Lam welcomed Putin in Hanoi.", "He turned it on.", "Prices rose 3.5%.", "The U.S."):
        assert not ends_mid_clause(finished), finished


def test_a_sentence_that_stops_mid_clause_is_left_out(index) -> None:
    hits = index.search(Q, k=5)
    n = next(i for i, h in enumerate(hits, 1) if "To Lam" in h.text)
    a = ask(Q, Settings.from_env(mode="llm", style="free"), index=index, hooks=Hooks(generator=ScriptedGenerator([f"To Lam welcomed Putin in Hanoi on Thursday and [{n}]."])))
    assert a.fallback and [lo.reason for lo in a.left_out] == ["unfinished: ends mid-clause"]
