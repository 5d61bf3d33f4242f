"""The extractive answerer on hand-made passages: which sentences can answer, the context a chosen
sentence needs, the marked answer phrase, and citations checked (not assumed) by check_citations."""

from __future__ import annotations

from rag.extractive import (answer_phrase, answer_type, extractive_answer, is_statement, score_sentences,
                            with_context)
from rag.types import Hit


def _hit(text: str, n: int = 0, dense: float = 0.5, title: str = "T") -> Hit:
    return Hit(chunk_id=f"d{n}#0", doc_id=f"d{n}", title=title, text=text, start=0, end=len(text), score=1.0,
               dense_score=dense)


def _idf(words):
    return {w: 1.0 for w in words}


def test_questions_captions_and_credits_are_not_statements() -> None:
    assert is_statement("Vietnam welcomed the Russian president on Thursday.")
    assert is_statement("“We will keep working together,” he said.")
    assert not is_statement("What does Hanoi stand to gain from welcoming Putin?")
    assert not is_statement("Putin arrives at the airport in Hanoi")  # a caption: no full stop
    assert not is_statement("Photo by Jane Doe / Agency.")
    assert not is_statement("Advertisement")


def test_a_question_in_the_article_is_never_the_answer() -> None:
    hit = _hit("What does Hanoi stand to gain from welcoming Putin, who is under an arrest warrant? "
               "President To Lam welcomed Putin in Hanoi with a ceremony on Thursday.")
    scored = score_sentences("Who welcomed Putin in Hanoi?", [hit], None, _idf)
    assert all(not s.text.endswith("?") for s in scored)
    assert scored[0].text.startswith("President To Lam")


def test_a_sentence_that_refers_back_brings_the_one_before_it() -> None:
    hit = _hit("Analyst Carl Thayer studied the visit closely. He assessed that the visit would "
               "strengthen defence ties between the two countries.")
    q = "Who assessed that the visit would strengthen defence ties?"
    scored = score_sentences(q, [hit], None, _idf)
    assert scored[0].text.startswith("He assessed")
    parts = with_context(scored[0], [hit], q)
    assert [p.text[:10] for p in parts] == ["Analyst Ca", "He assesse"]
    check = extractive_answer(q, scored, [hit])
    assert "Carl Thayer" in check.text and check.text.count("[1]") == 2


def test_the_answer_in_the_next_sentence_is_brought_along() -> None:
    hit = _hit("The ministry announced the new loan for the port project on Monday. "
               "It is worth $2.5 billion over ten years.")
    q = "How large is the new loan for the port project?"
    scored = score_sentences(q, [hit], None, _idf)
    check = extractive_answer(q, scored, [hit])
    assert "$2.5 billion" in check.text


def test_the_answer_phrase_is_marked_without_the_questions_own_words() -> None:
    assert answer_type("When did the court issue the warrant?") == "date"
    assert answer_type("How many inmates escaped?") == "amount"
    assert answer_type("Which religious leader spoke?") == "name"
    s = "Vietnamese President To Lam welcomed Putin in Hanoi on Thursday."
    a, b = answer_phrase(s, "Which Vietnamese president welcomed Putin in Hanoi?")
    assert s[a:b] == "To Lam"
    s = "The Hague-based court in March 2023 issued an arrest warrant."
    a, b = answer_phrase(s, "When did the court issue an arrest warrant?")
    assert s[a:b] == "March 2023"


def test_citations_are_checked_not_assumed() -> None:
    hit = _hit("President To Lam welcomed Putin in Hanoi with a ceremony on Thursday.")
    q = "Who welcomed Putin in Hanoi?"
    check = extractive_answer(q, score_sentences(q, [hit], None, _idf), [hit])
    (c,) = check.citations
    assert c.supported and c.support == 1.0 and c.quote == hit.text
    assert "**To Lam**" in check.text or "**President To Lam**" in check.text
    assert not check.unsupported and not check.uncited and not check.invalid
