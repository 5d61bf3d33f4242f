"""The LLM reader against the extractive answerer on the same questions, in one process.

For each question of a question set (optionally one split of it by id), asks once with the LLM
(`--model`, mode llm, the model loaded once and reused, as `rag chat` and `rag eval` do) and once
extractively, and prints:
- containment of the gold answer on answerable questions, for both, and on how many each alone is right;
- the share of LLM-mode answers the model itself wrote (not extractive fallbacks);
- answers shown with a sentence that is not cited or whose citation is not supported (must be 0);
- abstention on unanswerable questions, false abstention on answerable ones;
- seconds per question (p50, p95), time to first token (p50 over the questions after the first,
  when the system prompt's KV cache is warm) and prompt tokens.

    python benchmarks/bench_reader.py --index IDX --questions Q.jsonl --model qwen2.5-coder-1.5b \
        [--split test --cutoff 20251114] [--out run.json]

`--split dev` keeps ids before `--cutoff`, `--split test` the rest (the RealTime QA weeks: tune on
the first six, report the last six). Records go to `--out` (JSON), figures to stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.answer.citations import answer_sentences, strip_markers  # noqa: E402
from rag.answer.generation import LlamaGenerator  # noqa: E402
from rag.answer.pipeline import Hooks, ask  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluation.metrics import contains_answer  # noqa: E402
from rag.models import resolve_model  # noqa: E402
from rag.retrieval import open_index  # noqa: E402


def unverified(answer) -> int:
    """Sentences of a shown answer without a supported citation."""
    if answer.abstained:
        return 0
    ok = {strip_markers(c.sentence) for c in answer.citations if c.supported}
    return sum(1 for s in answer_sentences(answer.answer) if strip_markers(s) not in ok)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", required=True)
    ap.add_argument("--questions", required=True)
    ap.add_argument("--model", required=True, help="a models.txt name or a .gguf path")
    ap.add_argument("--split", choices=("all", "dev", "test"), default="all")
    ap.add_argument("--cutoff", default="20251114", help="first id of the test split")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out")
    a = ap.parse_args()

    qs = [json.loads(line) for line in Path(a.questions).read_text(encoding="utf-8").splitlines() if line.strip()]
    if a.split != "all":
        qs = [q for q in qs if (str(q["id"]) < a.cutoff) == (a.split == "dev")]
    base = Settings.from_env(index_dir=a.index, k=a.k)
    t = time.perf_counter()
    gen = LlamaGenerator(resolve_model(a.model, base.models_dir), device=base.device, n_threads=a.threads)
    load_s = time.perf_counter() - t
    rows = []
    with open_index(a.index) as idx:
        for q in qs:
            s = base.with_(as_of=q.get("as_of"))
            t = time.perf_counter()
            llm = ask(q["question"], s.with_(mode="llm"), index=idx, hooks=Hooks(generator=gen))
            secs = time.perf_counter() - t
            ex = ask(q["question"], s.with_(mode="extractive"), index=idx)
            golds = q.get("answers") or []
            row = dict(id=q["id"], question=q["question"], answerable=q.get("answerable", True), gold=golds,
                       answer=llm.answer, model_reply=llm.model_reply, abstained=llm.abstained,
                       fallback=llm.fallback, notice=llm.notice, unverified=unverified(llm),
                       contains=bool(golds) and not llm.abstained and contains_answer(llm.answer, golds),
                       extractive=ex.answer, ex_abstained=ex.abstained,
                       ex_contains=bool(golds) and not ex.abstained and contains_answer(ex.answer, golds),
                       secs=round(secs, 2), ttft_ms=llm.timings.get("ttft_ms"),
                       prompt_tokens=llm.timings.get("prompt_tokens"))
            rows.append(row)
            print(f"{row['secs']:6.1f}s {q['id']} {'abst' if llm.abstained else 'fb  ' if llm.fallback else 'llm '} "
                  f"{'ok' if row['contains'] else '--'} ex {'ok' if row['ex_contains'] else '--'} "
                  f"reply={llm.model_reply!r:.60}", file=sys.stderr, flush=True)
    gen.close()
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    shown = [r for r in rows if not r["abstained"]]
    ran = [r for r in rows if r["ttft_ms"] is not None]
    fig = {
        "model": gen.name, "device": gen.device, "questions": len(rows), "answerable": len(ans),
        "unanswerable": len(una), "model_load_s": round(load_s, 1),
        "contains_llm": sum(r["contains"] for r in ans), "contains_extractive": sum(r["ex_contains"] for r in ans),
        "only_llm_right": sum(r["contains"] and not r["ex_contains"] for r in ans),
        "only_extractive_right": sum(r["ex_contains"] and not r["contains"] for r in ans),
        "model_written": sum(not r["fallback"] for r in shown), "shown": len(shown),
        "fallbacks": sum(r["fallback"] for r in shown),
        "unverified_sentences_shown": sum(r["unverified"] for r in rows),
        "abstained_unanswerable": sum(r["abstained"] for r in una),
        "false_abstention": sum(r["abstained"] for r in ans),
        "extractive_abstained_unanswerable": sum(r["ex_abstained"] for r in una),
        "extractive_false_abstention": sum(r["ex_abstained"] for r in ans),
        "secs_p50": pct([r["secs"] for r in ran], 0.5), "secs_p95": pct([r["secs"] for r in ran], 0.95),
        "ttft_ms_p50_after_first": pct([r["ttft_ms"] for r in ran[1:]], 0.5),
        "prompt_tokens_p50": statistics.median([r["prompt_tokens"] for r in ran]) if ran else None,
    }
    print(json.dumps(fig, indent=1))
    if a.out:
        Path(a.out).write_text(json.dumps({"figures": fig, "rows": rows}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
