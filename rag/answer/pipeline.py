"""`ask(question) -> Answer`: retrieve, decide whether the articles answer it, then answer with
checked citations, either with a local LLM or extractively.

Order of work: (1) a follow-up is rewritten into a standalone question from the conversation;
(2) passages are retrieved; (3) their sentences are scored (extractive.py) and, when even the best
one does not plausibly answer, the bot abstains without calling any LLM; (4) with an LLM, the model
reads the passages and names the short answer and its passage (rag/answer/reader.py), and that
passage's sentence is quoted (the writer styles "free" and "copy" remain for comparison); without
one, or when the model's reply cannot be shown, the best sentences are quoted verbatim with their
citations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

from rag.answer import prompts
from rag.answer.citations import (SUPPORT_THRESHOLD, CitationCheck, check_citations, content_words, ends_mid_clause,
                                  number_by_citation, strip_markers)
from rag.answer.conversation import Conversation
from rag.answer.dates import (QuestionTime, asks_only_time, parse_date, relative_dates, time_window, today,
                              without_time_words)
from rag.answer.extractive import (ANSWER_POOL, MAX_QUESTION_CHARS, SCORER, ScoredSentence, answer_passages,
                                   answerability, extractive_answer, idf_from_counts, score_sentences)
from rag.answer.questions import answer_type, kind_in_words, unknown_names
from rag.answer.reader import (DEFAULT_BUDGET, READ_MAX_TOKENS, fit_prompt, locate, parse_reading, passage_windows,
                               quoted_answer, reader_prompt)
from rag.config import Settings
from rag.errors import InputError, ModelError
from rag.retrieval import DateFilter, DatePrior, Index, diversified, open_index
from rag.types import Answer, Hit, LeftOut, Source

if TYPE_CHECKING:  # pragma: no cover
    from rag.answer.generation import Generator

NOT_FOUND = "The articles don't say."
NO_MODEL_HINT = ("No LLM is downloaded or installed, so answers quote the articles directly; "
                 "`rag models pull` fetches one for written answers (`rag models list` shows them).")
INSTALLED_NOT_DEFAULT_HINT = ("Answers quote the articles directly: auto mode uses only the recommended LLM, which "
                              "`rag models pull` fetches. Present: {names} (on the dev questions none answered "
                              "better than the quotes); `--model NAME` or `--mode llm` answers with one.")
MODES = ("auto", "llm", "extractive")
PROMPT_BUDGET = 600  # prompt tokens aimed for at k=5: sentence windows instead of whole chunks
STYLES = ("read", "free", "copy")
LLM_STYLE = "read"
FALLBACK_NOTICE = "The model's answer could not be verified against the passages, so the best-matching sentences are quoted instead."
NOT_FOUND_NOTICE = "The model found no answer in the passages, so the best-matching sentences are quoted instead."


@dataclass(frozen=True)
class Hooks:
    """The live objects an answer may use beside its settings: a `generator` already loaded (else
    the one `options` names is loaded, in auto and llm mode), and the callbacks."""

    generator: "Generator | None" = None
    on_token: Callable[[str], None] | None = None  # the answer's checked text
    on_draft: Callable[[str], None] | None = None  # the LLM's raw tokens, as they come
    on_prompt: Callable[[str], None] | None = None  # the exact prompt, before generation


NO_HOOKS = Hooks()


def ask(question: str, options: Settings | None = None, *, index: Index | None = None,
        conversation: Conversation | None = None, hooks: Hooks = NO_HOOKS) -> Answer:
    """Answer `question` from the indexed articles, with checked citations.

    `options` holds every setting (default: `Settings.from_env()`): the index, k, mode, model,
    retrieval, dates and the answer knobs. mode "auto" uses the LLM when a model is available (a
    `hooks.generator` passed in, `model`, or the default model from models.txt downloaded) and
    answers extractively otherwise. `style` "read" (the default) has the model name the short
    answer and its passage, and quotes that passage's sentence; "free" lets the model write its
    sentences under the citation grammar; "copy" makes it pick passage sentences verbatim. Either
    way only verified sentences reach the answer: `support_threshold` (default
    `citations.SUPPORT_THRESHOLD`) is the support a written sentence needs from a passage it cites.

    `hooks.on_token` receives the answer's text, and only once it is checked: an LLM's raw tokens go
    to `hooks.on_draft` (for a progress display, or to stop a generation), never to `on_token`.

    `since`/`until` (YYYY-MM-DD) keep only passages of documents published in that range.
    `as_of` is the date the question is asked on (default: today): passages published close before
    it rank higher, more strongly when the question's wording names a time ("this week", "last
    year", "in 2024"); older ones stay reachable (rag/answer/dates.py). No document published after
    a given `as_of` is used; undated documents stay in.
    """
    s = options if options is not None else Settings.from_env()
    abstain_threshold, on_token = s.abstain_threshold, hooks.on_token
    if s.mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, not {s.mode!r}")
    check_question(question)
    threshold = SCORER.abstain if abstain_threshold is None else abstain_threshold
    asked = DateFilter(since=s.since, until=s.until)
    if s.as_of:
        parse_date(s.as_of, "as_of")  # a bad date is an error before any work
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    own_index = index is None
    idx = index or open_index(s.index_dir)
    try:
        setup = asked_for = None
        gen = hooks.generator
        if gen is None and s.mode in ("auto", "llm"):
            gen, setup = load_generator(s)
            if s.model is not None:  # about the model this question named: said with this answer
                asked_for, setup = setup, None
        use_llm = gen is not None and s.mode != "extractive"

        standalone = question.strip()
        if conversation is not None:
            t = time.perf_counter()
            standalone = conversation.standalone(question, gen if use_llm else None)
            timings["rewrite_ms"] = _ms(t)

        window = time_window(standalone, s.as_of)
        if s.retrieval != "lexical":
            # Load the embedder apart, so its one-time cost is not reported inside retrieval.
            t = time.perf_counter()
            idx.embedder  # noqa: B018
            timings["embedder_load_ms"] = _ms(t)
        found = candidates(idx, standalone, k=s.k, retrieval=s.retrieval, asked=asked, window=window,
                           timings=timings)
        hits, scored, unknown = found.hits, found.scored, found.unknown
        timings["answerability"] = round(found.answerability, 4)
        best = 0.0 if unknown else found.answerability

        common = dict(question=question, standalone_question=standalone if standalone != question.strip() else None,
                      sources=_sources(hits[:s.k]), notice=asked_for, setup_notice=setup)
        if abstain_threshold is None and standalone != question.strip():
            # A follow-up the conversation rewrote continues a topic the articles already answered.
            threshold = SCORER.follow_up_abstain
        if best < threshold and not found.time_only:
            timings["total_ms"] = _ms(t0)
            return Answer(answer=NOT_FOUND, citations=(), abstained=True,
                          mode="llm" if use_llm else "extractive", device=gen.device if use_llm and gen else "none",
                          timings=timings, model=gen.name if use_llm and gen else None,
                          **{**common, "notice": _abstain_notice(unknown, _kind_missing(
                              standalone, scored, threshold), asked_for)})  # type: ignore[arg-type]

        if not use_llm:
            t = time.perf_counter()
            hits, scored = answer_passages(scored, hits, s.k, standalone)
            common["sources"] = _sources(hits)
            check = extractive_answer(standalone, scored, hits)
            text, citations = number_by_citation(check.text, check.citations)
            timings["citation_check_ms"] = _ms(t)
            if on_token:
                on_token(text)
            timings["total_ms"] = _ms(t0)
            return with_dates(Answer(answer=text, citations=citations, abstained=False, mode="extractive",
                                     device="none", timings=timings, invalid_citations=check.invalid,
                                     unsupported_sentences=check.unsupported + check.uncited,
                                     **common), standalone, window)  # type: ignore[arg-type]

        assert gen is not None
        # The model reads the k passages asked for (its prompt budget is sized for them); the whole
        # pool stays for a fallback, which is then the extractive answer itself.
        answer = with_dates(_llm_answer(question, standalone, hits, gen, s, idx, hooks, timings, t0, common, scored),
                            standalone, window)
        if on_token:
            on_token(answer.answer)  # only now: the checked text, never the model's draft
        return answer
    finally:
        if own_index:
            idx.close()


def check_question(question: str) -> None:
    """InputError for an empty question or one too long to be a question (a pasted document)."""
    if not question or not question.strip():
        raise InputError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is {len(question):,} characters long; ask in at most "
                         f"{MAX_QUESTION_CHARS:,} (a question, not a document)")


@dataclass(frozen=True)
class Candidates:
    """What an answer is chosen from: the pool of passages (the k to show first), their scored
    sentences, the best sentence's score, and the question's names no passage mentions."""

    hits: list[Hit]
    scored: list[ScoredSentence]
    answerability: float
    unknown: list[str]
    # The question asks only what happened in a time ("What happened this week?") and the pool
    # holds a passage published in it: that passage answers, whatever its words.
    time_only: bool = False


def candidates(idx: Index, question: str, *, k: int, retrieval: str, asked: DateFilter, window: QuestionTime,
               timings: dict[str, float] | None = None, prior: DatePrior | None = None) -> Candidates:
    """Retrieve the answer pool (`ANSWER_POOL` passages, at most two of one article among the
    first `k`; those published close to the question's time first, `window.prior()` unless a
    `prior` is given) and score its sentences."""
    timings = {} if timings is None else timings
    t = time.perf_counter()
    pool = max(k, ANSWER_POOL)  # the answer is looked for in more passages than are shown
    only_time = window.worded and asks_only_time(question)
    prior = window.prior(only_time=only_time) if prior is None else prior
    query = without_time_words(question) if STRIP_TIME_WORDS else question
    hits = idx.search(query, k=pool, retrieval=retrieval, dates=window.ceiling(asked), prior=prior)
    hits = diversified(hits, k)
    timings["retrieval_ms"] = _ms(t)
    t = time.perf_counter()
    idf = idf_from_counts(idx.reader.doc_freq, max(idx.counts["chunks"], 1))
    publishers = idx.reader.publishers()
    scored = score_sentences(question, hits, None, idf, publishers=publishers)
    rank_weight = window.rank_weight()
    if rank_weight and any(h.date for h in hits):
        # The sentence published closer to the question's time answers first (its rank only:
        # whether anything answers stays the sentence's score).
        close = [prior.closeness(h.date) for h in hits]
        scored = sorted((replace(x, rank=x.rank * (1.0 + rank_weight * close[x.hit])) for x in scored),
                        key=lambda x: (-x.rank, -x.score))
    inside = [bool(h.date) and window.window.admits(h.date) for h in hits]  # dated, in the window
    time_only = only_time and any(inside)
    if time_only:
        # Nothing to match but the time: the news of that time answers, its leads first (news
        # states what happened first), in the order retrieval ranked their passages.
        scored = sorted(scored, key=lambda x: (not inside[x.hit], -x.lead, x.hit, x.start))
    timings["scoring_ms"] = _ms(t)
    return Candidates(hits, scored, answerability(scored, answer_type(question)),
                      unknown_names(question, idx.reader.doc_freq, publishers), time_only=time_only)


STRIP_TIME_WORDS = True  # the query leaves out the question's time words (a switch for measurements)
OLD_ARTICLE_DAYS = 30  # an answer's article this far outside the question's window is named in the notice


def with_dates(answer: Answer, question: str, when: QuestionTime) -> Answer:
    """The answer with what its dates tell the reader, in its notice: the article it comes from
    when that was published well outside the time the question names ("from an article of
    2021-06-08"), and, for a question asking when, the calendar date that relative words of the
    quoted sentences mean ("on Tuesday" in an article of 2025-11-19: Tuesday, 2025-11-18)."""
    if answer.abstained or not answer.citations:
        return answer
    by_n = {src.n: src for src in answer.sources}  # a citation names its source by `passage`
    cited = [c for c in answer.citations if c.supported and c.passage in by_n]
    notes: list[str] = []
    if when.worded:
        prior = when.prior()
        dates = {by_n[c.passage].date for c in cited}
        old = sorted(d for d in dates if (prior.days_outside(d) or 0) > OLD_ARTICLE_DAYS)
        if old and len(old) == len(dates):
            span = " to ".join(x for x in (when.window.since, when.window.until) if x)
            notes.append(f"This answer is from an article of {', '.join(old[:3])}, well outside the time the "
                         f"question asks about ({span}).")
    if answer_type(question) == "date":
        seen: set[tuple[str, str]] = set()
        for c in cited:
            src = by_n[c.passage]
            for rd in relative_dates(strip_markers(c.sentence).replace("**", ""), src.date):
                if (rd.words.lower(), rd.means) not in seen:
                    seen.add((rd.words.lower(), rd.means))
                    notes.append(f"“{rd.words}” in [{c.n}], an article of {src.date}, means {rd.means}.")
    if not notes:
        return answer
    notice = " ".join(notes + ([answer.notice] if answer.notice else []))
    return replace(answer, notice=notice)


def _abstain_notice(unknown: Sequence[str], missing: str | None = None, notice: str | None = None) -> str | None:
    """Why the bot abstained, when it can say: names no article mentions, else the kind of thing
    the question asks for that the passages matching it do not hold."""
    said = f"No article mentions {', '.join(unknown)}." if unknown else \
        f"The passages that match the question give no {missing}." if missing else None
    if said:
        return f"{said} {notice}" if notice else said
    return notice


def _kind_missing(question: str, scored: Sequence[ScoredSentence], threshold: float) -> str | None:
    """The asked-for kind in words ("span of time") when it alone made the question unanswerable:
    a sentence without it would have scored over the threshold."""
    what = kind_in_words(question)
    return what if what and answerability(scored) >= threshold else None


def load_generator(s: Settings) -> tuple["Generator | None", str | None]:
    """The LLM the settings name, or None plus a notice (auto mode) / ModelError (llm mode).

    Without a name, llm mode takes the default LLM when it is present, else the first listed LLM
    that is present; auto mode takes only the default. The LLMs that install from PyPI were measured
    on the RealTime QA dev weeks and none answered better than the extractive answerer
    (benchmarks/RESULTS-reader.md, RESULTS-llm.md), so auto mode uses them only when named."""
    from rag.models import present_llms, resolve_model

    try:
        path = resolve_model(s.model, s.models_dir, default_only=s.mode == "auto" and s.model is None)
    except ModelError as exc:
        if s.mode == "llm":
            raise
        if s.model is not None:
            return None, f"{exc} — answering extractively."
        installed = present_llms(s.models_dir)
        return None, INSTALLED_NOT_DEFAULT_HINT.format(names=", ".join(installed)) if installed else NO_MODEL_HINT
    from rag.answer.generation import LlamaGenerator

    gen = LlamaGenerator(path, device=s.device, gpu_layers=s.gpu_layers, seed=s.seed,
                         temperature=s.temperature)
    return gen, getattr(gen, "warning", None)


def build_prompt(question: str, hits: Sequence[Hit], generator: "Generator", max_tokens: int,
                 scored: Sequence[ScoredSentence] | None = None, budget: int = PROMPT_BUDGET
                 ) -> tuple[str, int, int]:
    """The exact prompt, how many passages it holds, and its token count.

    With `scored` sentences, each passage is shown as windows around its best sentences, narrowed
    (fewer neighbours, then fewer sentences) until the prompt fits `budget` tokens; without, whole
    passages are shown. Weakest passages are dropped last, and only to fit the model's context."""
    system = prompts.render("answer_system")
    limit = generator.context_limit()
    shapes = [(2, 1), (2, 0), (1, 0)] if scored is not None else [None]

    def render(n: int, shape: tuple[int, int] | None) -> tuple[str, int]:
        if shape is None:
            texts = [h.text for h in hits[:n]]
        else:
            texts = [" ".join(p) for p in passage_windows(hits[:n], scored or (), top=shape[0], window=shape[1])]
        passages = "\n\n".join(
            prompts.render("passage", n=i + 1, title=prompts.fence(h.title), text=prompts.fence(t)) for i, (h, t) in enumerate(zip(hits[:n], texts)))
        user = prompts.render("answer_user", passages=passages or "(no passages)", question=question)
        prompt = generator.render_chat(system, user)
        return prompt, generator.count_tokens(prompt)

    return fit_prompt(render, len(hits), shapes, budget=budget, reserve=max_tokens, limit=limit)


def _llm_answer(question: str, standalone: str, hits: list[Hit], gen: "Generator", s: Settings,
                idx: Index, hooks: Hooks, timings: dict[str, float], t0: float, common: dict,
                scored: Sequence[ScoredSentence] = ()) -> Answer:
    """Generate under the grammar, keep only the verified sentences; when none is left, answer
    extractively and say so. The model's unverified text is never returned as the answer."""
    from rag.answer.grammar import citation_grammar, copy_grammar, copy_max_chars, grammar_max_chars, ran_to_cap

    style, use_grammar, support_threshold = s.style, s.use_grammar, s.support_threshold
    on_draft, on_prompt = hooks.on_draft, hooks.on_prompt
    if style not in STYLES:
        raise InputError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
    if style == "read":
        return _read_answer(standalone, hits, gen, s, hooks, timings, t0, common, scored)
    pool = (hits, scored)
    hits, scored = hits[:s.k], [x for x in scored if x.hit < s.k]
    grammar = None
    max_tokens = s.max_tokens
    if use_grammar:
        # The budget is the grammar's own longest answer, so it never cuts a sentence short.
        max_tokens = grammar_max_chars(len(hits))
    prompt, n_used, n_tokens = build_prompt(standalone, hits, gen, max_tokens, scored=scored)
    used = hits[:n_used]
    if use_grammar and used:
        if style == "copy":
            shown = passage_windows(used, scored)
            offered = [(i + 1, t) for i, parts in enumerate(shown) for t in parts if t != "…"]
            grammar, max_tokens = copy_grammar(offered), copy_max_chars(offered)
        else:
            grammar, max_tokens = citation_grammar(len(used)), grammar_max_chars(len(used))
    if on_prompt is not None:
        on_prompt(prompt)
    ensure = getattr(gen, "ensure_context", None)
    if ensure is not None:
        ensure(n_tokens + max_tokens)
    result = gen.generate(prompt, max_tokens=max_tokens, grammar=grammar, on_token=on_draft)
    timings.update(prompt_tokens=n_tokens, completion_tokens=result.completion_tokens,
                   ttft_ms=round((result.time_to_first_token_s or 0.0) * 1000, 1),
                   generation_ms=round(result.total_s * 1000, 1), tokens_per_s=round(result.tokens_per_s, 2),
                   passages_dropped=len(hits) - n_used)
    raw = result.text.strip()
    base = dict(mode="llm", device=gen.device, prompt=prompt, model=gen.name, **common)
    if not raw or raw.upper().startswith("NOT FOUND"):
        # The articles were judged to answer (the abstention check passed before the model ran):
        # a weak model's NOT FOUND must not end the turn in a false "the articles don't say".
        return _fallback(standalone, pool, s.k, timings, t0, base, NOT_FOUND_NOTICE, (), ())
    check = check_citations(raw, used, embedder=idx.embedder,
                            threshold=SUPPORT_THRESHOLD if support_threshold is None else support_threshold)
    kept, repeats = _verified_sentences(check)
    left_out = check.left_out + repeats
    if style == "free":
        # An unfinished sentence is not a claim: one the grammar closed at its length cap, or one
        # that stops mid-clause ("… under circumstances,").
        cut = [(claim, ns, "cut off at the sentence length limit" if use_grammar and ran_to_cap(claim)
                else "unfinished: ends mid-clause") for claim, ns in kept
               if (use_grammar and ran_to_cap(claim)) or ends_mid_clause(claim)]
        left_out += tuple(LeftOut(sentence=claim, cited=ns, support=_support(check, claim), reason=why)
                          for claim, ns, why in cut)
        kept = [k for k in kept if k not in {(claim, ns) for claim, ns, _ in cut}]
    asked = set(content_words(standalone))
    if kept and all(set(content_words(claim)) <= asked for claim, _ in kept):
        # "Putin visited [4]." is supported but only restates the question: not an answer.
        left_out += tuple(LeftOut(sentence=claim, cited=ns, support=1.0, reason="only restates the question")
                          for claim, ns in kept)
        kept = []
    if not kept:
        return _fallback(standalone, pool, s.k, timings, t0, base, FALLBACK_NOTICE, left_out, check.invalid)
    citations = tuple(c for c in check.citations if c.supported and c.sentence in {k for k, _ in kept})
    text = " ".join(f"{_unterminated(claim)} {''.join(f'[{n}]' for n in ns)}." for claim, ns in kept)
    text, citations = number_by_citation(text, citations)
    base["sources"] = _sources(used)
    timings["total_ms"] = _ms(t0)
    return Answer(answer=text, citations=citations, abstained=False, timings=timings,
                  invalid_citations=check.invalid,
                  unsupported_sentences=tuple(lo.sentence for lo in left_out),
                  left_out=left_out, **base)  # type: ignore[arg-type]


def _read_answer(standalone: str, hits: list[Hit], gen: "Generator", s: Settings, hooks: Hooks,
                 timings: dict[str, float], t0: float, common: dict, scored: Sequence[ScoredSentence]) -> Answer:
    """The model reads the passages and names the short answer and its passage (rag/answer/reader.py);
    the answer is that passage's sentence, quoted with the short answer marked. A reply no passage
    sentence holds is not shown: the extractive answer is, and the notice says why."""
    pool = (hits, scored)
    hits, scored = hits[:s.k], [x for x in scored if x.hit < s.k]
    budget = getattr(gen, "prompt_budget", lambda: None)() or DEFAULT_BUDGET
    prompt, n_used, n_tokens = reader_prompt(standalone, hits, gen, scored, as_of=s.as_of or today(), budget=budget)
    used = hits[:n_used]
    if hooks.on_prompt is not None:
        hooks.on_prompt(prompt)
    result = gen.generate(prompt, max_tokens=READ_MAX_TOKENS, on_token=hooks.on_draft, stop=["\n"])
    timings.update(prompt_tokens=n_tokens, completion_tokens=result.completion_tokens,
                   ttft_ms=round((result.time_to_first_token_s or 0.0) * 1000, 1),
                   generation_ms=round(result.total_s * 1000, 1), tokens_per_s=round(result.tokens_per_s, 2),
                   passages_dropped=len(hits) - n_used)
    reading = parse_reading(result.text, n_used)
    base = dict(mode="llm", device=gen.device, prompt=prompt, model=gen.name, model_reply=result.text.strip(),
                **common)
    if reading.short is None:
        return _fallback(standalone, pool, s.k, timings, t0, base, NOT_FOUND_NOTICE, (), ())
    located = locate(reading, used, standalone, scored)
    if located is None:
        left = LeftOut(sentence=reading.short, cited=(reading.passage,) if reading.passage else (), support=0.0,
                       reason="no passage sentence holds the model's answer")
        return _fallback(standalone, pool, s.k, timings, t0, base, FALLBACK_NOTICE, (left,), ())
    check = quoted_answer(located, used)
    text, citations = number_by_citation(check.text, check.citations)
    base["sources"] = _sources(used)
    timings["total_ms"] = _ms(t0)
    return Answer(answer=text, citations=citations, abstained=False, timings=timings,
                  invalid_citations=check.invalid, unsupported_sentences=check.unsupported + check.uncited,
                  **base)  # type: ignore[arg-type]


def _verified_sentences(check: CitationCheck) -> tuple[list[tuple[str, tuple[int, ...]]], tuple[LeftOut, ...]]:
    """(claim, the passages that support it) for each verified sentence, in order; a sentence that
    repeats an earlier one is left out (a small model's loop)."""
    kept: list[tuple[str, tuple[int, ...]]] = []
    repeats: list[LeftOut] = []
    for sentence in check.verified:
        claim = strip_markers(sentence)
        ns = tuple(dict.fromkeys(c.n for c in check.citations if c.sentence == claim and c.supported))
        words = set(content_words(claim))
        if any(len(words & set(content_words(k))) >= 0.8 * max(len(words), 1) for k, _ in kept):
            repeats.append(LeftOut(sentence=claim, cited=ns, support=_support(check, claim),
                                   reason="repeats an earlier sentence"))
            continue
        kept.append((claim, ns))
    return kept, tuple(repeats)


def _support(check: CitationCheck, claim: str) -> float:
    return max((c.support for c in check.citations if c.sentence == claim), default=0.0)


def _unterminated(claim: str) -> str:
    return claim.rstrip().rstrip(".!?").rstrip()


def _fallback(question: str, pool: tuple[list[Hit], Sequence[ScoredSentence]], k: int, timings: dict[str, float],
              t0: float, base: dict, notice: str, left_out: tuple[LeftOut, ...], invalid: tuple[int, ...]) -> Answer:
    """The extractive answer, exactly as extractive mode gives it (chosen from the whole answer
    pool), in place of an LLM answer that could not be shown; `notice` says why."""
    hits, scored = answer_passages(pool[1], pool[0], k, question)
    check = extractive_answer(question, scored, hits)
    text, citations = number_by_citation(check.text, check.citations)
    base = {**base, "sources": _sources(hits), "notice": f"{notice} {base['notice']}" if base.get("notice") else notice}
    timings["total_ms"] = _ms(t0)
    return Answer(answer=text, citations=citations, abstained=False, timings=timings, fallback=True,
                  invalid_citations=invalid, unsupported_sentences=tuple(lo.sentence for lo in left_out),
                  left_out=left_out, **base)  # type: ignore[arg-type]


def _sources(hits: Sequence[Hit]) -> tuple[Source, ...]:
    return tuple(Source(n=i + 1, doc_id=h.doc_id, chunk_id=h.chunk_id, title=h.title, text=h.text,
                        start=h.start, end=h.end, score=h.score, also_in=h.also_in, date=h.date)
                 for i, h in enumerate(hits))


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 1)
