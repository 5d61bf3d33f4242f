"""The LLM-answer figures of a `rag eval --mode llm` run folder, as a markdown table.

Usage:
    python benchmarks/llm_figures.py RUN_FOLDER [--label "seeds, smoke test"]

Reads RUN_FOLDER/questions.jsonl (written by `rag eval`) and prints: answer containment
(answerable questions), citation precision, the share of the model's sentences that passed
verification, answers that fell back to the extractive answer, answers without any citation,
abstention on unanswerables, prompt tokens, time to first token, tokens/s and seconds per question
(p50/p95), and how many final answers hold a sentence that is not verified. A fallback is
recognised by the notice the pipeline attaches to it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from rag.answer.citations import answer_sentences
from rag.answer.pipeline import FALLBACK_NOTICE, NOT_FOUND_NOTICE


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    i = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[i]


def figures(rows: list[dict]) -> list[tuple[str, str]]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answered = [r for r in rows if not r["abstained"]]
    fell_back = [r for r in answered if (r.get("notice") or "").startswith((FALLBACK_NOTICE, NOT_FOUND_NOTICE))]
    model_not_found = [r for r in fell_back if (r.get("notice") or "").startswith(NOT_FOUND_NOTICE)]
    written = [r for r in answered if r not in fell_back]
    kept = sum(len(answer_sentences(r["answer"])) for r in written)
    left = sum(len(r["unsupported_sentences"]) for r in answered)
    uncited = [r for r in answered if not r["citations"]]
    contains = [r["scores"]["contains_answer"] for r in answerable]
    precision = [r["scores"]["citation_precision"] for r in answered if r["scores"].get("citation_precision") is not None]
    llm_rows = [r for r in answered if "prompt_tokens" in r["timings"]]
    t = lambda key: [float(r["timings"][key]) for r in llm_rows if key in r["timings"]]  # noqa: E731
    wall = [float(r["timings"]["wall_ms"]) / 1000 for r in rows]
    out = [
        ("questions (answerable / unanswerable)", f"{len(rows)} ({len(answerable)} / {len(unanswerable)})"),
        ("gold answer contained (answerable)", f"{statistics.mean(contains):.3f} ({sum(contains):.0f} of {len(contains)})"
         if contains else "n/a"),
        ("citation precision (cited documents among the gold sources)",
         f"{statistics.mean(precision):.3f}" if precision else "n/a"),
        ("answers written by the model (verified sentences only)", f"{len(written)} of {len(answered)}"),
        ("answers that fell back to extractive (model unverified / model said NOT FOUND)",
         f"{len(fell_back)} ({len(fell_back) - len(model_not_found)} / {len(model_not_found)})"),
        ("model sentences verified (kept / all the model wrote)",
         f"{kept / (kept + left):.3f} ({kept} of {kept + left})" if kept + left else "n/a"),
        ("answers without any citation", f"{len(uncited)}"),
        ("answers with a sentence not verified (uncited, or no citation of it supported)",
         f"{sum(1 for r in answered if r['scores']['verified_sentences'] < r['scores']['answer_sentences'])}"),
        ("answer sentences verified (all final answers)",
         f"{sum(r['scores']['verified_sentences'] for r in answered)} of "
         f"{sum(r['scores']['answer_sentences'] for r in answered)}"),
        ("abstained on unanswerables", f"{sum(r['abstained'] for r in unanswerable)} of {len(unanswerable)}"),
        ("false abstentions (answerable)", f"{sum(r['abstained'] for r in answerable)}"),
        ("prompt tokens p50 / max", f"{pct(t('prompt_tokens'), .5):.0f} / {max(t('prompt_tokens'), default=0):.0f}"),
        ("time to first token p50 / p95 (ms)", f"{pct(t('ttft_ms'), .5):.0f} / {pct(t('ttft_ms'), .95):.0f}"),
        ("tokens/s p50", f"{pct(t('tokens_per_s'), .5):.1f}"),
        ("completion tokens p50 / max", f"{pct(t('completion_tokens'), .5):.0f} / {max(t('completion_tokens'), default=0):.0f}"),
        ("seconds per question p50 / p95 (wall)", f"{pct(wall, .5):.1f} / {pct(wall, .95):.1f}"),
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    rows = [json.loads(line) for line in (a.run / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]
    print(f"| {a.label or a.run.name} | value |\n|---|---:|")
    for k, v in figures(rows):
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
