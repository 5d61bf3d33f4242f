"""The grammars that keep an LLM's answer in the shape the pipeline checks.

`citation_grammar` builds a GBNF grammar that keeps a small model's answer in the shape the rest of
the pipeline parses and cannot run away: `NOT FOUND`, or at most MAX_SENTENCES sentences of at most
SENTENCE_PIECES characters each, every one ending in one or two `[k]` markers and a period. A `.`
followed by a space can only come after the markers, so a model cannot close a sentence without its
citation. `grammar_max_chars` is the longest text the grammar allows; the pipeline uses it as the
token budget, so the budget never cuts a sentence short (a token carries at least one character).
`copy_grammar` is the stricter variant: each answer sentence is one of the given passage sentences,
copied verbatim with its own `[k]`, so the citation is right by construction.
"""

from __future__ import annotations

import re

NOT_FOUND = "NOT FOUND"  # what the model writes when the passages do not answer
MAX_SENTENCES = 3
SENTENCE_PIECES = 100  # a sentence's text: at most this many characters (a "." with the next one counts once)
MAX_CITES = 2


# --- grammar ----------------------------------------------------------------------------------


def gbnf_escape(text: str) -> str:
    """`text` as the body of a GBNF string literal."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def citation_grammar(n_passages: int, *, max_sentences: int = MAX_SENTENCES,
                     pieces: int = SENTENCE_PIECES) -> str:
    """GBNF: exactly `NOT FOUND`, or 1..max_sentences sentences separated by one space. A sentence is
    text (no brackets, angle brackets (no chat markup) or control characters, not starting with a space, a "." only when a character
    other than a space follows it, as in "3.5" or "U.S"), then 1..MAX_CITES `[k]` markers
    (1 <= k <= n_passages) and a period."""
    if n_passages < 1:
        return f'root ::= "{NOT_FOUND}"\n'
    numbers = " | ".join(f'"{k}"' for k in range(n_passages, 0, -1))
    more = f'(" " sentence){{0,{max_sentences - 1}}}' if max_sentences > 1 else ""
    return (
        f'root ::= "{NOT_FOUND}" | sentence {more}\n'
        f'sentence ::= first piece{{0,{pieces - 1}}} " "? cite{{1,{MAX_CITES}}} "."\n'
        "first ::= [^\\[\\]<>\\x01-\\x20.]\n"
        'piece ::= [^\\[\\]<>\\x01-\\x1f.] | "." [^\\[\\]<>\\x01-\\x20.]\n'
        'cite ::= "[" num "]"\n'
        f"num ::= {numbers}\n"
    )


def citation_regex(n_passages: int, *, max_sentences: int = MAX_SENTENCES,
                   pieces: int = SENTENCE_PIECES) -> re.Pattern[str]:
    """The language of `citation_grammar` as a regex, for `fullmatch`."""
    if n_passages < 1:
        return re.compile(re.escape(NOT_FOUND))
    num = "|".join(str(k) for k in range(n_passages, 0, -1))
    piece = r"(?:[^\[\]<>\x00-\x1f.]|\.[^\[\]<>\x00-\x20.])"
    sentence = rf"[^\[\]<>\x00-\x20.]{piece}{{0,{pieces - 1}}} ?(?:\[(?:{num})\]){{1,{MAX_CITES}}}\."
    return re.compile(rf"{re.escape(NOT_FOUND)}|{sentence}(?: {sentence}){{0,{max_sentences - 1}}}")


def grammar_max_chars(n_passages: int, *, max_sentences: int = MAX_SENTENCES, pieces: int = SENTENCE_PIECES) -> int:
    """The longest answer `citation_grammar` allows, in characters: the token budget that lets
    every answer the grammar allows finish."""
    cite = 2 + len(str(max(n_passages, 1)))
    sentence = 1 + 2 * (pieces - 1) + 1 + MAX_CITES * cite + 1
    return max(len(NOT_FOUND), max_sentences * sentence + (max_sentences - 1))


def ran_to_cap(claim: str, *, pieces: int = SENTENCE_PIECES) -> bool:
    """Whether a sentence written under `citation_grammar` (given without its markers, as
    `citations.strip_markers` leaves it) used up its length cap: the grammar then closed it wherever
    the model was, mid-clause or mid-word, so what it says is unfinished. (A "." with the character
    after it is one piece; one piece of slack for the space the marker removal may have taken.)"""
    text = claim.rstrip()
    text = text[:-1] if text.endswith(".") else text
    return len(text) - text.count(".") >= pieces - 1


def copy_grammar(sentences: list[tuple[int, str]], *, max_sentences: int = MAX_SENTENCES) -> str:
    """GBNF: `NOT FOUND`, or 1..max_sentences of the given (passage number, sentence) pairs, each
    copied verbatim and followed by its own `[n]` and a period."""
    if not sentences:
        return f'root ::= "{NOT_FOUND}"\n'
    options = " | ".join(f'"{gbnf_escape(_unterminated(t))} [{n}]."' for n, t in sentences)
    more = f'(" " sentence){{0,{max_sentences - 1}}}' if max_sentences > 1 else ""
    return f'root ::= "{NOT_FOUND}" | sentence {more}\nsentence ::= {options}\n'


def copy_max_chars(sentences: list[tuple[int, str]], *, max_sentences: int = MAX_SENTENCES) -> int:
    """The longest answer `copy_grammar` allows (a sentence may be picked more than once)."""
    longest = max((len(_unterminated(t)) + len(f" [{n}].") for n, t in sentences), default=0)
    return max(len(NOT_FOUND), max_sentences * longest + max_sentences - 1)


def _unterminated(sentence: str) -> str:
    return re.sub(r"\s+", " ", sentence).strip().rstrip(".!?…").rstrip()
