"""Text normalisation shared by every ingest step: one spelling of whitespace and Unicode, and
the word counting the furniture and title rules use."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Tabs, no-break and typographic spaces all become a plain space so that phrase matching and
# duplicate detection see one spelling of every line.
_ODD_SPACES = re.compile("[\t\v\f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# Invisible characters that only break words apart for matching (soft hyphen, zero-width space,
# word joiner, stray BOM). ZWJ/ZWNJ are kept: some scripts need them.
_INVISIBLE = re.compile("[\u00ad\u200b\u2060\ufeff]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_LINE_BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029\x1c-\x1e]")
_SPACE_RUN = re.compile(" {2,}")


def normalize_text(raw: str) -> str:
    """NFC, LF line ends, odd spaces made plain, space runs collapsed, every line stripped.

    Line structure is kept (blank lines stay blank); curly quotes and non-ASCII are untouched.
    """
    text = unicodedata.normalize("NFC", raw)
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _ODD_SPACES.sub(" ", text)
    text = _CONTROL.sub("", text)
    return "\n".join(_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))


WORD = re.compile(r"\w+")
# A line that ends a sentence (closing quotes and brackets allowed after the mark).
SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")
# A line that ends with any closing punctuation: a sentence or a clause, not a label.
CLOSED = re.compile(r"[.!?…:;,\"'”’»)\]]$")


@lru_cache(maxsize=8192)
def count_words(line: str) -> int:
    return len(WORD.findall(line))
