"""Turn answers and hits into terminal text. One place, used by `rag ask`, `rag chat` and
`rag search`: colour only when writing to a terminal (and NO_COLOR is unset), plain text otherwise.
"""

from __future__ import annotations

import os
import textwrap
from typing import IO, Sequence

from rag.types import Answer, Source


def use_color(stream: IO[str]) -> bool:
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class Style:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)


def sources_block(answer: Answer, style: Style) -> str:
    """The numbered sources under an answer: title, document id, and the quoted span the answer
    relies on, shown inside its passage with the cited words highlighted."""
    if answer.abstained or not answer.sources:
        return ""
    cited = {c.n for c in answer.citations}
    lines = [style.bold("Sources:")]
    for src in answer.sources:
        if cited and src.n not in cited:
            continue
        also = f"  (also in {', '.join(src.also_in)})" if src.also_in else ""
        dated = f" ({src.date})" if getattr(src, "date", None) else ""
        lines.append(f"[{src.n}] {style.cyan(src.title)} — {src.doc_id}{dated}{also}")
        quotes = [c for c in answer.citations if c.n == src.n]
        for c in {c.quote_start: c for c in quotes}.values():
            mark = "" if c.supported else style.red(f"  (weak support {c.support:.2f})")
            lines.append(_indent(_in_context(src, c.quote_start, c.quote_end, style)) + mark)
        if not quotes:
            lines.append(_indent(_shorten(src.text, 300)))
    return "\n".join(lines)


def _in_context(src: Source, qs: int, qe: int, style: Style, around: int = 120) -> str:
    """The passage around the quote, with the quote itself highlighted (or in «» when plain)."""
    s, e = qs - src.start, qe - src.start
    if not (0 <= s <= e <= len(src.text)):
        return src.text[:300]
    before = src.text[max(0, s - around):s]
    after = src.text[e:e + around]
    lead = "…" if s - around > 0 else ""
    tail = "…" if e + around < len(src.text) else ""
    quote = src.text[s:e]
    shown = style.yellow(style.bold(quote)) if style.enabled else f"«{quote}»"
    return f"{lead}{before}{shown}{after}{tail}".replace("\n", " ")


def _indent(text: str) -> str:
    # Not wrapped: wrapping would break ANSI codes apart.
    return textwrap.indent(text, "    ")


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def timing_block(answer: Answer) -> str:
    t = answer.timings
    parts = [f"device: {answer.device}", f"mode: {answer.mode}"]
    if answer.model:
        parts.append(f"model: {answer.model}")
    for key, label, unit in (("embedder_load_ms", "embedder load", "ms"), ("rewrite_ms", "rewrite", "ms"),
                             ("retrieval_ms", "retrieval", "ms"),
                             ("scoring_ms", "sentence scoring", "ms"), ("prompt_tokens", "prompt tokens", ""),
                             ("ttft_ms", "time to first token", "ms"), ("tokens_per_s", "tokens/s", ""),
                             ("generation_ms", "generation", "ms"), ("total_ms", "total", "ms"),
                             ("answerability", "answerability", "")):
        if key in t:
            parts.append(f"{label}: {t[key]}{(' ' + unit) if unit else ''}")
    return " | ".join(parts)


def after_stream(streamed: str, answer: Answer) -> str:
    """What to print once the answer was handed over: nothing but a newline when the streamed
    text is the final answer (only checked text is ever streamed); otherwise the final text."""
    if streamed and not answer.abstained and streamed.strip() == answer.answer.strip():
        return ""
    return ("\n" if streamed else "") + answer.answer


def answer_footer(answer: Answer, style: Style, verbose: bool = False) -> str:
    """Everything printed after the streamed answer text."""
    out = []
    if answer.invalid_citations:
        out.append(style.red(f"Removed citation(s) to passages that do not exist: "
                             f"{', '.join(f'[{n}]' for n in answer.invalid_citations)}"))
    if answer.left_out:
        # Listed once, compactly: the sentences are not part of the answer (--json has their scores).
        n = len(answer.left_out)
        out.append(style.yellow(f"left out: {n} sentence{'s' if n > 1 else ''} of the model's answer "
                                "not supported by the passages"))
        if verbose:
            out.extend(style.dim(f"  - {_shorten(lo.sentence, 100)} ({lo.reason})") for lo in answer.left_out)
    elif answer.unsupported_sentences:
        out.append(style.yellow(f"left out: {len(answer.unsupported_sentences)} sentence(s) not supported by the passages"))
    block = sources_block(answer, style)
    if block:
        out.append("")
        out.append(block)
    if answer.notice:
        out.append("")
        out.append(style.dim(answer.notice))
    if verbose:
        out.append(style.dim(timing_block(answer)))
    return "\n".join(out)


def hits_block(hits: Sequence[object], style: Style) -> str:
    lines = []
    for i, h in enumerate(hits, 1):
        also = f"  (also in {', '.join(h.also_in)})" if h.also_in else ""  # type: ignore[attr-defined]
        dated = f" ({h.date})" if getattr(h, "date", None) else ""
        lines.append(f"[{i}] {style.cyan(h.title)} — {h.doc_id}{dated}  score {h.score:.3f}{also}")  # type: ignore[attr-defined]
        lines.append(_indent(h.text))  # type: ignore[attr-defined]
        lines.append("")
    return "\n".join(lines).rstrip()
