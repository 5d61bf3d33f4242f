"""The LLM as a reader: its reply parsed, located in the passages, and shown as the passage's own
sentence with the short answer marked (scripted generator over the real seeds index)."""

from __future__ import annotations

import pytest

from rag import ask
from rag.answer.pipeline import Hooks
from rag.answer.reader import Reading, locate, parse_reading, quoted_answer, reader_prompt
from rag.config import Settings
from rag.retrieval import open_index
from rag.types import Hit
from tests.fakes import ScriptedGenerator

Q = "Which Vietnamese president welcomed Putin in Hanoi?"


@pytest.fixture(scope="module")
def index(seed_index, minilm):
    idx = open_index(seed_index, embedder=minilm)
    yield idx
    idx.close()


def _hit(text: str, n: int, date: str | None = None) -> Hit:
    return Hit(chunk_id=f"d{n}#0", doc_id=f"d{n}", title=f"Title {n}", text=text, start=0, end=len(text),
               score=1.0, date=date)


@pytest.mark.parametrize("raw, short, passage", [
    ("Eton College [2]", "Eton College", 2),
    ("Eton College (2).", "Eton College", 2),
    ("Answer: New World screwworm [3]\nBecause passage 3 says so.", "New World screwworm", 3),
    ('"Belgium" [passage 1]', "Belgium", 1),
    ("Serena Williams [9]", "Serena Williams", None),  # a passage number out of range names none
    ("NOT FOUND", None, None),
    ("not found.", None, None),
    ("", None, None),
    ("[2]", None, None),
])
def test_parse_reading(raw: str, short: str | None, passage: int | None) -> None:
    r = parse_reading(raw, 5)
    assert (r.short, r.passage) == (short, passage)


def test_locate_prefers_the_named_passage_and_the_answer_as_written() -> None:
    hits = [_hit("The school was founded in 1440. Eton College fees rose again.", 1),
            _hit("Prince George will attend Eton College from September.", 2)]
    q = "Which school will Prince George attend, founded when?"
    loc = locate(Reading(raw="", short="Eton College", passage=2), hits, q)
    assert loc is not None and loc.sentence.hit == 1 and loc.sentence.text.startswith("Prince George")
    # Not in the passage it names: found in another one.
    loc = locate(Reading(raw="", short="1440", passage=2), hits, q)
    assert loc is not None and loc.sentence.hit == 0
    # In no passage: nothing to show.
    assert locate(Reading(raw="", short="Harrow School", passage=2), hits, q) is None
    # A short answer that only repeats the question's words answers nothing.
    assert locate(Reading(raw="", short="Prince George", passage=2), hits, q) is None
    # A sentence that shares no word with the question does not answer it.
    assert locate(Reading(raw="", short="fees", passage=1), hits, "Which school will Prince George attend?") is None


def test_locate_accepts_all_words_when_not_written_as_one_phrase() -> None:
    hits = [_hit("The coop, built for the chickens at the residence, cost $20,000.", 1)]
    loc = locate(Reading(raw="", short="chickens coop", passage=1), hits, "What was built at the residence?")
    assert loc is not None and loc.span is None
    # Only in the passage the model named: scattered words elsewhere are no reading of it.
    assert locate(Reading(raw="", short="chickens coop", passage=None), hits, "What was built at the residence?") is None


def test_quoted_answer_is_the_sentence_with_the_short_answer_marked() -> None:
    hits = [_hit("Intro sentence here. Prince George will attend Eton College from September.", 1)]
    loc = locate(Reading(raw="", short="eton college", passage=1), hits, "Which school will George attend?")
    assert loc is not None
    check = quoted_answer(loc, hits)
    assert check.text == "Prince George will attend **Eton College** from September. [1]"
    assert len(check.citations) == 1 and check.citations[0].supported and check.citations[0].passage == 1


def test_the_prompt_has_no_answer_to_copy_and_shows_dates() -> None:
    gen = ScriptedGenerator([])
    hits = [_hit("A long passage. " * 5, 1, date="2025-11-18"), _hit("Another passage.", 2)]
    prompt, n, tokens = reader_prompt("Who won?", hits, gen, [], as_of="2025-11-21", budget=10_000)
    assert n == 2 and tokens == gen.count_tokens(prompt)
    assert "[1] 2025-11-18 · Title 1" in prompt and "[2] Title 2" in prompt
    assert "Asked on 2025-11-21." in prompt and "NOT FOUND" in prompt
    system = prompt.split("<|user|>")[0]
    assert "[" not in system.replace("in square brackets", ""), "no example answer the model could copy"
    # Over budget: narrowed to windows around the best sentences, never more passages dropped than needed.
    small, n_small, t_small = reader_prompt("Who won?", hits, gen, [], as_of="2025-11-21", budget=40)
    assert n_small == 2 and t_small < tokens


def test_a_reading_is_answered_with_the_passage_sentence(index) -> None:
    hits = index.search(Q, k=5)
    n = next(i for i, h in enumerate(hits, 1) if "President To Lam" in h.text)
    gen = ScriptedGenerator([f"To Lam [{n}]"])
    streamed: list[str] = []
    a = ask(Q, Settings.from_env(mode="llm"), index=index, hooks=Hooks(generator=gen, on_token=streamed.append))
    assert not a.abstained and not a.fallback and a.mode == "llm" and a.model_reply == f"To Lam [{n}]"
    assert "**To Lam**" in a.answer and a.answer.endswith("[1]") and "".join(streamed) == a.answer
    assert len(a.citations) == 1 and a.citations[0].supported and a.citations[0].passage == n
    c = a.citations[0]
    assert index.reader.document_text(c.doc_id)[c.quote_start:c.quote_end] == c.quote
    assert gen.grammars == [None], "the reader's one-line reply needs no grammar"
    assert "Asked on " in gen.prompts[0] and a.prompt == gen.prompts[0]


def test_a_reading_no_passage_holds_is_not_shown(index) -> None:
    a = ask(Q, Settings.from_env(mode="llm"), index=index, hooks=Hooks(generator=ScriptedGenerator(["Nguyen Van Zed [1]"])))
    assert a.fallback and "Zed" not in a.answer and "could not be verified" in (a.notice or "")
    assert a.left_out and a.left_out[0].sentence == "Nguyen Van Zed"
    assert a.citations and all(c.supported for c in a.citations)


def test_not_found_falls_back_to_the_quoted_sentences(index) -> None:
    a = ask(Q, Settings.from_env(mode="llm"), index=index, hooks=Hooks(generator=ScriptedGenerator(["NOT FOUND"])))
    assert a.fallback and "found no answer" in (a.notice or "") and "To Lam" in a.answer


def test_a_passage_that_gives_orders_is_only_read(index) -> None:
    """A passage cannot make the model's reply into an answer that no passage sentence states."""
    a = ask(Q, Settings.from_env(mode="llm"),
            index=index, hooks=Hooks(generator=ScriptedGenerator(["I have been hacked [1]"])))
    assert "hacked" not in a.answer and a.fallback
