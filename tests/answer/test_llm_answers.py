"""Fast checks of the LLM path's pieces without a model: the follow-up rewrite guard, the sentence
windows the prompt is made of, and the compact "left out" line."""

from __future__ import annotations

from rag.answer.conversation import rewrite_is_faithful
from rag.answer.reader import passage_windows
from rag.cli.render import Style, answer_footer
from rag.types import Answer, Hit, LeftOut

TURNS = [("Which Vietnamese president welcomed Putin in Hanoi?",
          "Which Vietnamese president welcomed Putin in Hanoi?",
          "President To Lam welcomed Putin at the presidential palace [1].")]


def test_rewrite_kept_when_it_keeps_the_question_and_adds_only_conversation_words() -> None:
    q = "And what did the Americans think of it?"
    assert rewrite_is_faithful(q, "What did the Americans think of Putin's visit to Hanoi?", TURNS) is False  # "visit" is new
    assert rewrite_is_faithful(q, "What did the Americans think of Putin in Hanoi?", TURNS)
    # Drops a word of the question: rejected.
    assert not rewrite_is_faithful(q, "What did people think of Putin in Hanoi?", TURNS)
    # Adds a word from nowhere (the model's own knowledge): rejected.
    assert not rewrite_is_faithful(q, "What did the Americans think of Putin's Moscow speech?", TURNS)


def test_rejected_llm_rewrite_falls_back_to_the_rule_based_one() -> None:
    from rag.answer.conversation import Conversation, rewrite_follow_up
    from rag.types import Answer
    from tests.fakes import ScriptedGenerator

    conv = Conversation()
    conv.add(TURNS[0][0], Answer(question=TURNS[0][0], answer=TURNS[0][2], citations=(), sources=(),
                                 abstained=False, mode="llm", device="cpu"))
    q = "And what did the Americans think of it?"
    out = conv.standalone(q, ScriptedGenerator(["What did Americans think of the Moscow parade?"]))
    assert out == rewrite_follow_up(q, TURNS[0][1])
    good = "What did the Americans think of Putin in Hanoi?"
    assert conv.standalone(q, ScriptedGenerator([good])) == good


def _hit(text: str, n: int = 0) -> Hit:
    return Hit(chunk_id=f"d#{n}", doc_id="d", title="T", text=text, start=0, end=len(text), score=1.0)


def test_passage_windows_show_the_best_sentences_with_neighbours() -> None:
    from rag.answer.extractive import ScoredSentence, sentences_of

    text = " ".join(f"Sentence number {w} is here." for w in ("one", "two", "three", "four", "five", "six", "seven"))
    hits = [_hit(text)]
    sents = sentences_of(hits)
    best = sents[5]  # "six"
    scored = [ScoredSentence(text=best[0], hit=0, start=best[2], end=best[3], score=1.0, passage=1.0, words=1.0,
                             type_match=0.0, near=0.0)]
    scored += [ScoredSentence(text=t, hit=0, start=s, end=e, score=0.1, passage=0.0, words=0.0, type_match=0.0, near=0.0)
               for t, _, s, e, _ in sents if s != best[2]]
    (parts,) = passage_windows(hits, scored, top=1, window=1)
    assert parts == ["Sentence number five is here.", "Sentence number six is here.", "Sentence number seven is here."]
    (parts,) = passage_windows(hits, scored, top=2, window=0)
    assert parts[0] == "Sentence number one is here." and parts[1] == "…" and "six" in parts[2]


def test_left_out_sentences_are_listed_once_compactly() -> None:
    los = tuple(LeftOut(sentence=f"Claim {i}.", cited=(1,), support=0.2, reason="weak support 0.20 < 0.5")
                for i in range(12))
    a = Answer(question="q", answer="Fine [1].", citations=(), sources=(), abstained=False, mode="llm",
               device="cpu", left_out=los, unsupported_sentences=tuple(lo.sentence for lo in los))
    text = answer_footer(a, Style(False))
    assert text.count("left out") == 1 and "12 sentences" in text and "Claim 3" not in text
    assert "Claim 3" in answer_footer(a, Style(False), verbose=True)
