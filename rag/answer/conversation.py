"""A chat's turns, and a follow-up question made to stand alone from them: rewritten by the LLM
when one is loaded and its rewrite is faithful, else by carrying over the previous question's topic
words."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from rag.answer import prompts
from rag.answer.citations import content_words, strip_markers
from rag.answer.questions import QUESTION_FRAME
from rag.types import Answer
from rag.words import STOPWORDS

if TYPE_CHECKING:  # pragma: no cover
    from rag.answer.generation import Generator


@dataclass
class Conversation:
    """The turns of a chat, used to make follow-up questions stand alone."""

    turns: list[tuple[str, str, str]] = field(default_factory=list)  # (asked, standalone, answer)

    def add(self, asked: str, answer: Answer) -> None:
        self.turns.append((asked, answer.standalone_question or answer.question, answer.answer))

    def reset(self) -> None:
        self.turns.clear()

    @classmethod
    def after(cls, questions: Sequence[str], answer: Callable[..., Answer]) -> "Conversation":
        """The conversation in which `questions` were asked in turn, each answered by
        `answer(question, conversation=...)` (as `rag chat` does): a question set's `history`."""
        conv = cls()
        for q in questions:
            conv.add(q, answer(q, conversation=conv))
        return conv

    def standalone(self, question: str, generator: "Generator | None" = None) -> str:
        if not self.turns:
            return question
        if generator is not None:
            return _rewrite_with_llm(question, self.turns, generator)
        return rewrite_follow_up(question, self.turns[-1][1])


_REFERRING = re.compile(r"\b(it|its|this|that|these|those|they|them|their|he|him|his|she|her|there|then|"
                        r"the visit|the trip|the deal|the same)\b", re.IGNORECASE)
_LEADING_JOINER = re.compile(r"^\s*(and|but|so|also|then|ok(ay)?|what about|how about)\b[\s,]*", re.IGNORECASE)


def rewrite_follow_up(question: str, previous: str) -> str:
    """Without an LLM: when the question leans on the conversation (a pronoun, "and ...", or too few
    words of its own), carry over the previous question's topic words it lacks."""
    q = question.strip()
    own = [w for w in re.findall(r"\w+", q.lower()) if w not in STOPWORDS]
    names = [w for w in re.findall(r"\w+", q)[1:] if w[:1].isupper()]
    leans = bool(_REFERRING.search(q)) or bool(_LEADING_JOINER.match(q)) or (len(own) <= 2 and not names)
    if not leans:
        return q
    q = _LEADING_JOINER.sub("", q)
    q = q[:1].upper() + q[1:]
    have = {w.lower() for w in re.findall(r"\w+", q)}
    topic = [w for w in re.findall(r"[\w’'-]+", previous)
             if w.lower() not in STOPWORDS and w.lower() not in have and not _is_question_word(w)
             and w.lower() not in QUESTION_FRAME]
    topic = list(dict.fromkeys(topic))
    if not topic:
        return q
    return f"{q.rstrip('?').rstrip()} (regarding {' '.join(topic)})?"


def _is_question_word(w: str) -> bool:
    return w.lower() in {"who", "what", "when", "where", "which", "why", "how", "whom", "whose", "did", "does"}


def _rewrite_with_llm(question: str, turns: Sequence[tuple[str, str, str]], generator: "Generator") -> str:
    history = "\n".join(f"User: {std}\nAssistant: {strip_markers(ans)}" for _, std, ans in turns[-3:])
    prompt = generator.render_chat(prompts.render("rewrite_system"),
                                   prompts.render("rewrite_user", history=history, question=question))
    out = generator.generate(prompt, max_tokens=64, stop=["\n"]).text.strip().strip('"')
    if 3 <= len(out) <= 400 and rewrite_is_faithful(question, out, turns):
        return out
    return rewrite_follow_up(question, turns[-1][1])


def rewrite_is_faithful(question: str, rewrite: str, turns: Sequence[tuple[str, str, str]]) -> bool:
    """An LLM's rewrite of a follow-up is used only when it keeps every content word of the
    question and adds only words found in the conversation (its questions and answers)."""
    asked = set(content_words(question))
    got = set(content_words(rewrite))
    said: set[str] = set()
    for a, std, ans in turns:
        said |= set(content_words(f"{a} {std} {strip_markers(ans)}"))
    return asked <= got and got <= asked | said
