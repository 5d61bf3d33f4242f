"""LLM answers on CPU and GPU on one machine: the same model file, the same passages, rag's own
answer path (prompt, citation grammar, generation, verification, fallback).

    # where the index lives (any machine): save the passages of a question set
    python benchmarks/bench_gpu.py save INDEX_DIR seeds/questions.jsonl passages.pkl
    # on the GPU machine (needs only numpy, jinja2 and a CUDA build of llama-cpp-python):
    python benchmarks/bench_gpu.py run passages.pkl MODEL.gguf gpu cpu --out gpu_bench.json

`run` answers every question once per device named, with the passages `save` retrieved (the pool
`rag ask` retrieves), and prints per device: load time, seconds per question p50/p95, time to
first token, tokens/s, fallbacks, abstentions and gold-answer containment. Verification runs without
the embedder (word support only), so that the GPU machine needs no embedding model; both devices
are checked the same way. Results: benchmarks/RESULTS-gpu.md.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def save(args: argparse.Namespace) -> None:
    import re

    from rag.answer.citations import content_words
    from rag.answer.extractive import ANSWER_POOL
    from rag.retrieval import open_index

    idx = open_index(args.index_dir)
    questions = [json.loads(line) for line in Path(args.questions).read_text(encoding="utf-8").splitlines() if line]
    hits, words = {}, set()
    for r in questions:
        found = idx.search(r["question"], k=ANSWER_POOL)
        hits[r["question"]] = found
        words |= set(content_words(r["question"]))
        for h in found:
            words |= set(content_words(h.text)) | set(content_words(h.heading or ""))
            words |= {t.lower() for t in re.findall(r"[\w’'-]+", h.text)}
    data = {"hits": hits, "df": idx.reader.doc_freq(sorted(words)), "counts": dict(idx.counts),
            "questions": questions}
    Path(args.out).write_bytes(pickle.dumps(data))
    print(f"{len(questions)} questions' passages saved to {args.out}")


def run(args: argparse.Namespace) -> None:
    import llama_cpp  # noqa: F401  (loaded before numpy: see RESULTS-gpu.md)

    from rag.answer.generation import LlamaGenerator, gpu_present, offload_supported
    from rag.evaluation.metrics import contains_answer
    from rag.answer.pipeline import Hooks, ask
    from rag.config import Settings

    data = pickle.loads(Path(args.passages).read_bytes())

    class Reader:
        def doc_freq(self, words):
            return {w: data["df"].get(w, 0) for w in words}

    class SavedIndex:
        embedder = None
        reader = Reader()
        counts = data["counts"]

        def search(self, q, k=5, retrieval="hybrid", dates=None):
            return data["hits"][q][:k]

        def close(self):
            pass

    def pct(values, q):
        values = sorted(v for v in values if v)
        return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else None

    print("gpu present:", gpu_present(), "offload supported:", offload_supported(), flush=True)
    out = {}
    for device in args.devices:
        t = time.perf_counter()
        gen = LlamaGenerator(Path(args.model), device=device, seed=0)
        load = time.perf_counter() - t
        rows = []
        for r in data["questions"]:
            t = time.perf_counter()
            a = ask(r["question"], Settings.from_env(mode="llm"), index=SavedIndex(), hooks=Hooks(generator=gen))
            rows.append({"id": r["id"], "s": time.perf_counter() - t, "timings": a.timings, "fallback": a.fallback,
                         "abstained": a.abstained, "answer": a.answer,
                         "contains": contains_answer(a.answer, r["answers"]) if r["answerable"] else None})
        summary = {"device": gen.device, "questions": len(rows), "load_s": round(load, 2),
                   "s_p50": pct([x["s"] for x in rows], .5), "s_p95": pct([x["s"] for x in rows], .95),
                   "ttft_ms_p50": pct([x["timings"].get("ttft_ms") for x in rows], .5),
                   "tokens_per_s_p50": pct([x["timings"].get("tokens_per_s") for x in rows], .5),
                   "fallbacks": sum(bool(x["fallback"]) for x in rows),
                   "abstained": sum(bool(x["abstained"]) for x in rows),
                   "contains": sum(bool(x["contains"]) for x in rows if x["contains"] is not None)}
        print(json.dumps(summary), flush=True)
        out[device] = {"summary": summary, "rows": rows}
        del gen
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("index_dir")
    s.add_argument("questions")
    s.add_argument("out")
    r = sub.add_parser("run")
    r.add_argument("passages")
    r.add_argument("model")
    r.add_argument("devices", nargs="+", choices=("gpu", "cpu", "auto"))
    r.add_argument("--out")
    args = ap.parse_args()
    save(args) if args.cmd == "save" else run(args)


if __name__ == "__main__":
    main()
