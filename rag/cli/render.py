"""Turn answers and hits into terminal text. One place, used by `rag ask`, `rag chat` and
`rag search`: colour only when writing to a terminal (and NO_COLOR is unset), plain text otherwise.
"""

from __future__ import annotations

import os
import textwrap
from typing import IO, Sequence

from rag.types import Answer, Citation, Source


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
    """The sources under an answer, numbered as the answer cites them ([1] first): title, document
    id, and the passage around the quoted spans the answer relies on, the quoted words highlighted,
    each passage once however many of its sentences the answer quotes. An answer without citations
    lists its passages under their own numbers."""
    if answer.abstained or not answer.sources:
        return ""
    by_passage = {src.n: src for src in answer.sources}
    cited: dict[int, list[Citation]] = {}
    for c in answer.citations:
        if c.passage in by_passage:
            cited.setdefault(c.n, []).append(c)
    lines = [style.bold("Sources:")]
    shown = sorted(cited.items()) if cited else [(src.n, []) for src in answer.sources]
    for n, quotes in shown:
        src = by_passage[quotes[0].passage] if quotes else by_passage[n]
        also = f"  (also in {', '.join(src.also_in)})" if src.also_in else ""
        dated = f" ({src.date})" if getattr(src, "date", None) else ""
        lines.append(f"[{n}] {style.cyan(src.title)} — {src.doc_id}{dated}{also}")
        if not quotes:
            lines.append(_indent(_shorten(src.text, 300)))
            continue
        spans = sorted({(c.quote_start, c.quote_end) for c in quotes})
        weak = [c for c in quotes if not c.supported]
        mark = style.red(f"  (weak support {min(c.support for c in weak):.2f})") if weak else ""
        lines.append(_indent(_in_context(src, spans, style)) + mark)
    return "\n".join(lines)


def _in_context(src: Source, spans: Sequence[tuple[int, int]], style: Style, around: int = 120) -> str:
    """The passage from a little before the first quote to a little after the last, with each
    quote highlighted (or in «» when plain)."""
    rel = [(qs - src.start, qe - src.start) for qs, qe in spans]
    if not all(0 <= s <= e <= len(src.text) for s, e in rel):
        return src.text[:300]
    first, last = rel[0][0], max(e for _, e in rel)
    out = ["…" if first - around > 0 else "", src.text[max(0, first - around):first]]
    at = first
    for s, e in rel:
        s = max(s, at)
        if e <= s:
            continue
        out.append(src.text[at:s])
        quote = src.text[s:e]
        out.append(style.yellow(style.bold(quote)) if style.enabled else f"«{quote}»")
        at = e
    out += [src.text[at:last + around], "…" if last + around < len(src.text) else ""]
    return "".join(out).replace("\n", " ")


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


def answer_footer(answer: Answer, style: Style, verbose: bool = False, notice: bool = True) -> str:
    """Everything printed after the streamed answer text (without `answer.notice` when `notice`
    is False: `rag ask` says it on stderr)."""
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
    if answer.notice and notice:
        out.append("")
        out.append(style.dim(answer.notice))
    if verbose:
        if answer.model_reply is not None:
            # What the model read out of the passages (its passage numbers are the prompt's), before checking.
            out.append(style.dim(f"model's reply: {_shorten(answer.model_reply, 100)!r}"))
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
