"""Run a question set in LLM mode with a chosen answer style and support threshold, keeping the
model's raw output, so that later runs can replay it (same prompts, no generation) at other
thresholds.

Usage:
    python benchmarks/llm_runs.py QUESTIONS --index-dir DIR --out RUN [--model smollm2-135m]
        [--style free|copy] [--support-threshold T] [--ids-before ID | --ids-from ID]
        [--replay RUN_WITH_RAW]

Writes RUN/ as `rag eval` does (questions.jsonl, summary.json, report.md; read it with
benchmarks/llm_figures.py) plus RUN/raw.jsonl: per question the model's raw text and every
sentence it wrote with the support it got, whether it was kept, and why not.

`--replay` answers with the raw text recorded in another run instead of generating (the model is
still loaded, for its tokenizer and chat template, so prompts are built exactly as before): the
figures of a threshold can then be measured without running the model again. Timings of a replay
are not model timings.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rag.answer import pipeline
from rag.config import Settings
from rag.evaluation.runner import run_questions
from rag.answer.generation import GenerationResult


class Recorder:
    """A generator that passes everything to the real one and keeps the last raw text; with
    `replay` (question prompt -> text) it returns the recorded text instead of generating."""

    def __init__(self, gen: Any, replay: dict[str, str] | None = None) -> None:
        self.gen = gen
        self.replay = replay
        self.last: str | None = None
        self.last_prompt: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gen, name)

    def generate(self, prompt: str, **kw: Any) -> GenerationResult:
        self.last_prompt = prompt
        if self.replay is not None:
            if prompt not in self.replay:
                raise SystemExit("replay: a prompt differs from the recorded run (other code or index?)")
            text = self.replay[prompt]
            self.last = text
            return GenerationResult(text=text, prompt_tokens=0, completion_tokens=0, time_to_first_token_s=None,
                                    total_s=0.0, tokens_per_s=0.0, device=self.gen.device, stopped_early=False)
        out = self.gen.generate(prompt, **kw)
        self.last = out.text
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("questions", type=Path)
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--style", default=pipeline.LLM_STYLE, choices=pipeline.STYLES)
    ap.add_argument("--support-threshold", type=float, default=None)
    ap.add_argument("--ids-before")
    ap.add_argument("--ids-from")
    ap.add_argument("--replay", type=Path, help="a run folder of this script whose raw.jsonl to answer with")
    ap.add_argument("-k", type=int, default=5)
    a = ap.parse_args()

    settings = Settings.from_env().with_(index_dir=a.index_dir, mode="llm", model=a.model, k=a.k)
    gen, _ = pipeline.load_generator(settings)
    replay = None
    if a.replay is not None:
        replay = {}
        for line in (a.replay / "raw.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["prompt"] is not None:
                replay[r["prompt"]] = r["raw"]
    rec = Recorder(gen, replay)
    a.out.mkdir(parents=True, exist_ok=True)
    raw_file = (a.out / "raw.jsonl").open("w", encoding="utf-8")

    def answer(question: str, options: Any, **kw: Any) -> Any:
        rec.last = rec.last_prompt = None
        options = options.with_(mode="llm", style=a.style, support_threshold=a.support_threshold)
        ans = pipeline.ask(question, options, hooks=pipeline.Hooks(generator=rec), **kw)
        kept = [{"sentence": c.sentence, "n": c.n, "support": c.support, "supported": c.supported, "quote": c.quote}
                for c in ans.citations] if not ans.fallback else []
        left = [{"sentence": lo.sentence, "cited": list(lo.cited), "support": lo.support, "reason": lo.reason}
                for lo in ans.left_out]
        raw_file.write(json.dumps({"question": question, "prompt": rec.last_prompt, "raw": rec.last,
                                   "fallback": ans.fallback, "abstained": ans.abstained, "kept": kept,
                                   "left_out": left}, ensure_ascii=False) + "\n")
        raw_file.flush()
        return ans

    try:
        res = run_questions(a.questions, settings.with_(index_dir=a.index_dir, mode="llm", model=a.model, k=a.k),
                            out_dir=a.out, answer_fn=answer, ids_before=a.ids_before, ids_from=a.ids_from,
                            name=f"llm-{a.style}")
    finally:
        raw_file.close()
        gen.close()
    print(json.dumps({"out": res.out_dir, "metrics": res.metrics, "counts": res.counts}, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
