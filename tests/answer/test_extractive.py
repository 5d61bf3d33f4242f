"""The extractive answerer on hand-made passages: which sentences can answer, the context a chosen
sentence needs, the marked answer phrase, and citations checked (not assumed) by check_citations."""

from __future__ import annotations

from rag.answer.extractive import answerability, extractive_answer, is_statement, score_sentences, with_context
from rag.answer.questions import (amount_measure, answer_candidates, answer_phrase, answer_type, background_words,
                                  kind_in_words)
from rag.types import Hit


def _hit(text: str, n: int = 0, dense: float = 0.5, title: str = "T") -> Hit:
    return Hit(chunk_id=f"d{n}#0", doc_id=f"d{n}", title=title, text=text, start=0, end=len(text), score=1.0,
               dense_score=dense)


def _marked(sentence: str, question: str) -> str | None:
    """The phrase `answer_phrase` marks in the sentence, None when it finds none."""
    span = answer_phrase(sentence, question)
    return sentence[span[0]:span[1]] if span else None


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
    # The first question word of the asking sentence decides, not a later subordinate "when".
    assert answer_type("Which country was hit hardest when the storm crossed the sea?") == "country"
    assert answer_type("The bank cut rates. To their lowest level in how many years?") == "amount"
    assert answer_type("A storm hit the coast. When did it make landfall?") == "date"
    s = "Vietnamese President To Lam welcomed Putin in Hanoi on Thursday."
    assert _marked(s, "Which Vietnamese president welcomed Putin in Hanoi?") == "To Lam"
    s = "The Hague-based court in March 2023 issued an arrest warrant."
    assert _marked(s, "When did the court issue an arrest warrant?") == "March 2023"


def test_an_amount_question_wants_the_measure_it_asks_for() -> None:
    measures = {
        "How long has he been a professor there?": "period",
        "The bank cut rates. To their lowest level in how many years?": "period",
        "How much money did the campaign raise?": "money",
        "How much did the new stadium cost?": "money",
        "How many inmates escaped?": "count",
        "What percentage of voters agreed?": "percent",
        "How old was she when she died?": "age",
        "How much oil is left?": None,  # any amount
        "How much did the bank raise rates?": None,  # not money: rates
        "How large is the loan?": None,
    }
    assert {q: amount_measure(q) for q in measures} == measures

    def found(sentence: str, question: str) -> list[str]:
        return [sentence[a:b] for a, b in answer_candidates(sentence, answer_type(question), question)]

    q = "How long has he been a professor there?"
    assert found("The country balances between the world's two leading powers, he said.", q) == []
    assert found("Just nine months ago, he became a professor.", q) == ["nine"]
    assert found("Rates are at a 3-year low.", "Rates fell to their lowest in how many years?") == ["3"]
    q = "How many tourists visited in 2019?"
    assert found("Tourists fell to 19 per cent of the pre-COVID 19 figure.", q) == []  # a share, a name
    assert found("Some 12 tourists came.", q) == ["12"]
    assert found("Nine months ago, 12 tourists came.", q) == ["12"]  # a span of time is no count
    assert found("He has been invited to visit twice now.", "How many times has he been invited?") == ["twice"]
    q = "How much money did the campaign raise?"
    assert found("It sold 40 shirts and raised $300 and 5 million dong.", q) == ["$300", "5 million"]
    q = "How old was she when she died?"
    assert found("The film drew 25 million viewers; she died at 91, 40% of them said.", q) == ["91"]
    assert kind_in_words("How long has he been a professor?") == "span of time"
    assert kind_in_words("How old is he?") == "age" and kind_in_words("When did it start?") == "date"
    assert kind_in_words("Which US state banned it?") == "US state" and kind_in_words("Who won?") is None


def test_a_question_of_a_specific_kind_is_answerable_only_by_a_sentence_of_that_kind() -> None:
    hit = _hit("Several bilateral documents will be signed during the visit, the ministry said. "
               "The visit follows two earlier trips to the region.")
    q = "How many bilateral documents were signed during the visit?"
    scored = score_sentences(q, [hit], None, _idf)
    best = max(scored, key=lambda x: x.score)
    assert best.text.startswith("Several") and not best.type_match  # the question's words, but no count
    assert scored[0].type_match  # only a sentence that holds a count may answer
    assert answerability(scored, answer_type(q)) < answerability(scored)
    assert answerability(scored, answer_type(q)) == max(s.score for s in scored if s.type_match)
    q2 = "Which documents will be signed during the visit?"  # a name question: any sentence may answer
    assert answerability(score_sentences(q2, [hit], None, _idf), answer_type(q2)) == \
        answerability(score_sentences(q2, [hit], None, _idf))


def test_citations_are_checked_not_assumed() -> None:
    hit = _hit("President To Lam welcomed Putin in Hanoi with a ceremony on Thursday.")
    q = "Who welcomed Putin in Hanoi?"
    check = extractive_answer(q, score_sentences(q, [hit], None, _idf), [hit])
    (c,) = check.citations
    assert c.supported and c.support == 1.0 and c.quote == hit.text
    assert "**To Lam**" in check.text or "**President To Lam**" in check.text
    assert not check.unsupported and not check.uncited and not check.invalid


def test_candidates_skip_the_questions_own_names_dates_and_clause_openers() -> None:

    def found(sentence: str, question: str) -> list[str]:
        return [sentence[a:b] for a, b in answer_candidates(sentence, answer_type(question), question)]

    q = "Which Vietnamese president welcomed Putin in Hanoi?"
    assert found("Russian President Vladimir Putin arrived on Thursday.", q) == []  # the head is Putin
    assert found("Vietnamese President To Lam welcomed him.", q) == ["To Lam"]
    assert found("However, the talks in Vietnam ended in March.", q) == []  # opener, a form, a month
    assert found("Later, In March 2022, the court ruled.", "Who ruled?") == []  # "In March" is no name
    assert found("On Friday Putin left.", "Who left?") == ["Putin"]  # not "On Friday Putin"
    assert found("She cited relevance to ASEAN, the Association of Southeast Asian Nations.",
                 "Which survey ranked Russia low in relevance to ASEAN?") == []  # another name for ASEAN
    assert found("Cheney served under President George W. Bush.", "Under which president did Cheney serve?") \
        == ["George W. Bush"]


def test_a_question_for_what_something_is_called_takes_a_quoted_term() -> None:

    q = "Vietnam hosted both leaders, a flexibility named after a plant. What is this approach called?"
    assert answer_type(q) == "term"
    assert answer_type("What nickname do the fans use?") == "term"
    assert answer_type("What name have experts given to the policy?") == "term"  # as "called"
    assert answer_type("What is the name of the megarocket?") == "name"
    assert answer_type("What were the terms of the ceasefire?") != "term"  # conditions, not a name
    # A day of a date or a year is not an amount.
    s = "In 2023, about 12 ministers met on 19-20 June."
    assert [s[a:b] for a, b in answer_candidates(s, "amount", "How many ministers met?")] == ["12"]
    s = "The peak of that flexibility, which some experts called “bamboo diplomacy,” came last year."
    assert _marked(s, q) == "bamboo diplomacy"
    # An apostrophe is not a quotation mark; a long quotation is not a term; without a quoted
    # term, a name is the candidate; a quoted word of the question is not its answer.
    s = "Vietnam's leader and Hanoi's mayor met Tran Anh Quan."
    assert answer_candidates(s, "term", "What was it called?") == answer_candidates(s, "name", "What was it called?")
    assert "Tran Anh Quan" in [s[a:b] for a, b in answer_candidates(s, "term", "What was it called?")]
    assert answer_candidates("He said “we will never ever give up on the people of this great land” loudly.",
                       "term", "What was it called?") == []
    assert answer_candidates("The plan, called “the approach”, failed.", "term", q) == []


def test_a_photo_caption_ending_in_its_dateline_is_not_a_statement() -> None:
    assert not is_statement("President Putin arrives to give his address at Moscow, February 29, 2024.")
    assert is_statement("The deal was signed on Oct. 3, 2025, in Cairo.")


def test_set_up_sentences_and_a_parenthesis_count_half() -> None:
    from rag.answer.questions import question_words
    setup = background_words("Dick Cheney died this week at 84. Under which president did he serve?")
    assert "cheney" in setup and "presid" not in setup and "serv" not in setup
    assert background_words("Who won the vote?") == set()
    # A follow-up's carried context (in parentheses) counts, at half weight; "regarding" does not.
    q = "What did the embassy say (regarding Putin's visit)?"
    asked = question_words(q)
    assert any(w.startswith("embass") for w in asked) and any(w.startswith("putin") for w in asked)
    assert not any(w.startswith("regard") for w in asked)
    carried = background_words(q)
    assert any(w.startswith("putin") for w in carried) and not any(w.startswith("embass") for w in carried)


def test_an_answer_other_articles_repeat_ranks_first_and_its_passage_is_shown() -> None:
    from rag.answer.extractive import answer_passages
    hits = [_hit("Officials in Alpha said the storm caused heavy damage across Springfield county.", 0),
            _hit("The hurricane made landfall in Jamaica on Tuesday, officials said.", 1),
            _hit("The storm hit Jamaica hardest, officials said on Wednesday.", 2)]
    hits = [Hit(**{**h.__dict__, "chunk_id": f"d{i}#3"}) for i, h in enumerate(hits)]
    q = "Which country did the storm hit hardest?"
    scored = score_sentences(q, hits, None, _idf)
    assert "Jamaica" in scored[0].text and scored[0].vote == 1.0
    shown, renumbered = answer_passages(scored, hits, 1, q)
    assert shown[0] is hits[0] and shown[-1] is hits[scored[0].hit] and len(shown) == 2
    assert renumbered[0].hit == 1 and all(s.hit < len(shown) for s in renumbered)
    check = extractive_answer(q, renumbered, shown)
    assert "Jamaica" in check.text and check.text.rstrip().endswith("[2]")


def test_a_question_is_not_split_after_an_initial() -> None:
    # "Daniel K. Inouye" is one name in one sentence: nothing in it is set-up.
    assert background_words("Which professor at the Daniel K. Inouye Center commented on the visit?") == set()
    assert background_words("Dick Cheney died this week. Under which president did he serve?") >= {"cheney", "die"}


def test_a_country_question_marks_a_country_not_any_name() -> None:
    question = "Which country did the president visit before arriving in Hanoi?"
    assert answer_type(question) == "country"
    s = "Ties date back to the Soviet Union, which was Hanoi's largest arms supplier, a position Russia still holds."
    assert _marked(s, question) == "Russia"
    # A sentence without any country has no candidate of the asked kind.
    assert answer_phrase("The president met General Secretary Trong in Hanoi.", question) is None
    assert answer_type("Which US state banned the additive?") == "state"
    assert answer_type("Which state-owned firm won the bid?") == "name"


def test_the_passages_shown_hold_at_most_two_of_one_article() -> None:
    from rag.retrieval import diversified

    def hit(doc: str, n: int) -> Hit:
        return Hit(chunk_id=f"{doc}#{n}", doc_id=doc, title=doc, text=f"{doc} passage {n}.", start=0, end=1,
                   score=1.0 - n / 10)

    hits = [hit("a", 0), hit("a", 1), hit("a", 2), hit("b", 0), hit("a", 3), hit("c", 0)]
    order = [h.chunk_id for h in diversified(hits, k=4)]
    assert order == ["a#0", "a#1", "b#0", "c#0", "a#2", "a#3"]  # nothing is lost, only reordered
    assert [h.chunk_id for h in diversified(hits, k=2)] == [h.chunk_id for h in hits]


def test_a_question_naming_an_indexed_outlet_is_not_about_an_unknown_name() -> None:
    from rag.answer.questions import unknown_names, without_outlets

    def doc_freq(words):  # the outlet's name was cleaned out of every passage
        return {w: 0 if w in {"york", "sun", "zanzibar"} else 3 for w in words}

    q = "What did Kim agree to supply, according to the New York Sun?"
    assert unknown_names(q, doc_freq) == ["York", "Sun"]
    assert unknown_names(q, doc_freq, ["The New York Sun"]) == []
    assert unknown_names("What did Zanzibar supply?", doc_freq, ["The New York Sun"]) == ["Zanzibar"]
    assert "Sun" not in without_outlets(q, ["The New York Sun"])
    assert without_outlets("A new law", ["The New York Sun"]) == "A new law"


def test_dates_in_either_order_and_plural_date_questions() -> None:
    q = "On which dates did the summit take place?"
    assert answer_type(q) == "date"
    s = "The summit took place on 19-20 June, officials said."
    assert _marked(s, q) == "19-20 June"
    s = "Sources said it would take place on May 15 and 16."
    assert _marked(s, q) == "May 15 and 16"


def test_question_frame_words_are_compared_after_stemming() -> None:
    from rag.answer.questions import question_words
    assert question_words("What was his fanpage called?") == ["fanpag"]  # not "call" (a phone call)


def test_a_sentence_that_continues_the_answer_is_brought_along() -> None:
    q = "Grateful for past help, how does the leadership regard Russia?"
    text = ("The leadership is grateful for the help it received in past wars. "
            "Therefore, they consider Russia a traditional friend. The visit ends on Friday.")
    hit = Hit(chunk_id="d#0", doc_id="d", title="t", text=text, start=0, end=len(text), score=1.0, dense_score=0.7)
    check = extractive_answer(q, score_sentences(q, [hit], None, _idf), [hit])
    assert "traditional friend" in check.text and "Friday" not in check.text


def test_a_closed_up_compound_in_the_question_matches_the_hyphenated_one() -> None:
    from rag.answer.extractive import joined_compounds

    assert joined_compounds("a ban on ultra-processed foods in 2-day trials") == {"ultrapr"}
    hit = _hit("The state banned ultra-processed foods in public schools on Monday.")
    (s,) = score_sentences("Which state banned ultraprocessed foods in public schools?", [hit], None, _idf)
    assert s.words == 1.0


def test_a_verb_in_de_meets_its_noun_in_sion() -> None:
    from rag.answer.extractive import sion_forms

    assert "invad" in sion_forms("the invasion of Ukraine") and "invas" in sion_forms("troops invaded")
    hit = _hit("It was the invasion of Ukraine that Putin launched in February 2022.")
    (s,) = score_sentences("When did Putin invade Ukraine?", [hit], None, _idf)
    assert s.words == 1.0


def test_a_date_question_ranks_a_sentence_with_a_date_above_one_without() -> None:
    later = "Critics referred to the invasion of Ukraine that Putin launched in February 2022."
    hits = [_hit("Putin's invasion of Ukraine isolated him internationally.", n=0),
            Hit(chunk_id="d1#3", doc_id="d1", title="T", text=later, start=900, end=900 + len(later),
                score=1.0, dense_score=0.5)]
    scored = score_sentences("When did Putin invade Ukraine?", hits, None, _idf)
    assert "February 2022" in scored[0].text  # although the other one is its article's lead
